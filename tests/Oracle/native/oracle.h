/* Shared layout of the oracle runner: fixed addresses and the wire format (little-endian).
 *
 * Input, per case:   u32 eax ecx edx ebx esp ebp esi edi, u32 eflags, u32 data_seed,
 *                    u8 patches (<= 8), patches x (u16 offset, u32 value) written over the seeded page,
 *                    u8 code_len, code_len bytes of code.
 * Output, per case:  u32 eax ecx edx ebx esp ebp esi edi, u32 eflags,
 *                    u32 vector (0xFFFFFFFF = ran to the end, else the x86 exception vector),
 *                    u32 eip (end of code, or the faulting instruction),
 *                    u16 changed, then changed x (u16 offset, u8 value) for data-page bytes
 *                    that differ from the seeded initial contents.
 * With X87 (build.sh OUT x87): up to 64 patches; the input has 108 bytes of x87 state after the
 * patches (FRSTOR, 32-bit protected-mode layout), loaded before the case; the output ends with
 * the 108 bytes FNSAVE stores after it (or that the kernel's signal frame held, for a faulting
 * case) and a byte that is 1 in the latter case.
 */
#ifndef ORACLE_H
#define ORACLE_H

#define CODE_BASE 0x00100000u
#define DATA_BASE 0x00200000u
#define PAGE_SIZE 4096u
#define MAX_CODE  240u
#define NO_FAULT  0xFFFFFFFFu

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

/* Order matches the x86 register numbers (EAX ECX EDX EBX ESP EBP ESI EDI). */
struct regs { u32 r[8]; u32 eflags; };

#endif
