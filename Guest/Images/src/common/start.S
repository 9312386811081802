/* Multiboot v1 header and entry point shared by all guests. The loader enters _start in flat
   32-bit protected mode with EAX = 0x2BADB002 and EBX = the information structure. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003   /* page-align modules, want mem_lower/mem_upper */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .align 16
boot_stack:
    .skip 16384
    .globl boot_stack_top
boot_stack_top:

    .text
    .globl _start
_start:
    cli
    cld
    mov $boot_stack_top, %esp
    push %ebx
    push %eax
    call kmain
1:  cli
    hlt
    jmp 1b
