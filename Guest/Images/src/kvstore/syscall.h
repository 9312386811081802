/* The int 0x80 interface between the kvstore server (ring 3) and its kernel.
   EAX = number; arguments in EBX, ECX; result in EAX (EDX:EAX for 64-bit results). */
#ifndef KVSTORE_SYSCALL_H
#define KVSTORE_SYSCALL_H

#define SYS_READ_BYTE 0   /* -> next byte from the serial input; blocks (HLT) while none */
#define SYS_WRITE     1   /* EBX = buffer, ECX = length -> bytes written, or -1 for a bad buffer */
#define SYS_TICKS     2   /* -> timer ticks since boot (100 Hz), EDX:EAX */
#define SYS_RDTSC     3   /* -> time-stamp counter, EDX:EAX */
#define SYS_EXIT      4   /* EBX = status; leaves through the debug-exit port */

#define TICK_HZ 100
#define SERVER_STACK_SIZE 16384
#endif
