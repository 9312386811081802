/* Descriptor tables, interrupt plumbing, PIC and PIT set-up shared by kvstore and selftest. */
#ifndef VMFT_X86_H
#define VMFT_X86_H
#include "types.h"

/* GDT layout. User code sits 16 bytes above kernel code and user data 24 bytes above, as
   SYSEXIT requires (CS = SYSENTER_CS + 16, SS = SYSENTER_CS + 24). */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE 0x1B
#define SEL_UDATA 0x23
#define SEL_TSS   0x28

#define PIC_VECTOR_BASE 0x20

/* Register frame built by the stubs in isr.S, lowest address first. */
struct frame {
    u32 gs, fs, es, ds;
    u32 edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
    u32 vector, err;
    u32 eip, cs, eflags;
    u32 user_esp, user_ss;   /* only present when the interrupt came from ring 3 */
};

void gdt_init(u32 esp0);
/* Points every vector at its stub as a ring-0 interrupt gate. */
void idt_init(void);
/* dpl 3 lets `int n` from ring 3 reach the gate; trap gates leave IF alone. */
void idt_set(u32 vector, int dpl, int trap);
/* Remaps the PICs to vectors 0x20-0x2F; bit n of mask set = IRQ n masked. */
void pic_init(u16 mask);
void pic_set_mask(u16 mask);
void pic_eoi(u32 irq);
void pit_init(u32 hz);

/* Defined by each guest: called by the stubs for every vector. */
void isr_dispatch(struct frame *f);

/* isr.S: enters ring 3 at eip with the given stack (IF set); returns the value passed to
   resume_kernel once a ring-3 interrupt handler calls it. */
u32 enter_user(void (*eip)(void), u32 user_esp, u32 eflags);
__attribute__((noreturn)) void resume_kernel(u32 value);
#endif
