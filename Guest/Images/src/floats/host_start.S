/* The host build of floats (make host-floats): a freestanding 32-bit Linux program, so that
   no 32-bit C library is needed. _start runs the workload and writes its lines to stdout. */
    .text
    .globl _start
_start:
    and $-16, %esp
    push $host_emit
    call floats_run
    mov $1, %eax          /* exit(0) */
    xor %ebx, %ebx
    int $0x80

/* void host_emit(const char *s, u32 n): write(1, s, n) */
host_emit:
    push %ebx
    mov $4, %eax
    mov $1, %ebx
    mov 8(%esp), %ecx
    mov 12(%esp), %edx
    int $0x80
    pop %ebx
    ret
    .section .note.GNU-stack,"",@progbits
