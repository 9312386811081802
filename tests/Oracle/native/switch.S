/* Entering and leaving the code under test. The case's registers are loaded last, with
 * instructions that change neither flags nor other registers, and captured first. */
    .intel_syntax noprefix
    .text

    .globl run_case
/* void run_case(void): enters with case_in (struct regs) prepared; returns after capture
 * or after the fault handler has redirected execution to case_done. */
run_case:
    push ebp
    push ebx
    push esi
    push edi
    mov [host_esp], esp
#ifdef X87
    fninit                  /* a faulting case leaves its pending exception behind */
    frstor [fpu_in]
#endif
    /* popfd then popad from a scratch copy: [eflags][edi esi ebp esp ebx edx ecx eax] */
    lea esp, [load_frame]
    popfd
    popad
    mov esp, [user_esp]
    jmp CODE_BASE_ADDR

    .globl capture
capture:
#ifdef X87
    fnsave [fpu_out]        /* no-wait: a pending exception stays pending, and is stored */
#endif
    mov [user_esp], esp
    lea esp, [capture_frame_top]
    pushad
    pushfd
    .globl case_done
case_done:
    cld
    mov esp, [host_esp]
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret

    .globl sig_restorer
sig_restorer:
    mov eax, 173            /* rt_sigreturn */
    int 0x80

    .globl syscall6
/* int syscall6(int nr, int a, int b, int c, int d, int e, int f) */
syscall6:
    push ebp
    push ebx
    push esi
    push edi
    mov eax, [esp+20]
    mov ebx, [esp+24]
    mov ecx, [esp+28]
    mov edx, [esp+32]
    mov esi, [esp+36]
    mov edi, [esp+40]
    mov ebp, [esp+44]
    int 0x80
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret

    .set CODE_BASE_ADDR, 0x00100000

    .bss
    .align 16
    .globl load_frame, capture_frame, user_esp, host_esp
load_frame:    .space 36     /* eflags, edi esi ebp esp ebx edx ecx eax */
capture_frame: .space 36     /* eflags, edi esi ebp esp ebx edx ecx eax (pushfd below pushad) */
capture_frame_top:
user_esp:      .space 4
host_esp:      .space 4
#ifdef X87
    .globl fpu_in, fpu_out
fpu_in:        .space 108
fpu_out:       .space 108
#endif
    .section .note.GNU-stack,"",@progbits
