    .intel_syntax noprefix
    .text
    .globl _start
_start:
    and esp, -16
    call oracle_main
    hlt
    .section .note.GNU-stack,"",@progbits
