/* One 16-byte stub per vector: pushes a dummy error code where the CPU pushes none, then the
   vector number, and joins isr_common, which saves everything into a struct frame. */
    .altmacro
    .macro stub n
    .align 16
    .if (\n == 8) || ((\n >= 10) && (\n <= 14)) || (\n == 17)
    .else
    pushl $0
    .endif
    pushl $\n
    jmp isr_common
    .endm

    .text
    .align 16
    .globl isr_stubs
isr_stubs:
    .set i, 0
    .rept 256
    stub %i
    .set i, i + 1
    .endr

isr_common:
    pusha
    push %ds
    push %es
    push %fs
    push %gs
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    push %esp
    call isr_dispatch
    add $4, %esp
    pop %gs
    pop %fs
    pop %es
    pop %ds
    popa
    add $8, %esp
    iret

/* u32 enter_user(void (*eip)(void), u32 user_esp, u32 eflags) */
    .globl enter_user
enter_user:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov %esp, saved_kernel_esp
    mov 20(%esp), %eax
    mov 24(%esp), %ecx
    mov 28(%esp), %edx
    pushl $0x23
    pushl %ecx
    pushl %edx
    pushl $0x1B
    pushl %eax
    mov $0x23, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    iret

/* void resume_kernel(u32 value): abandons the interrupt stack and returns from enter_user. */
    .globl resume_kernel
resume_kernel:
    mov 4(%esp), %eax
    mov saved_kernel_esp, %esp
    mov $0x10, %dx
    mov %dx, %ds
    mov %dx, %es
    mov %dx, %fs
    mov %dx, %gs
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

    .section .bss
    .align 4
saved_kernel_esp:
    .skip 4
