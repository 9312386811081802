#include "x86.h"
#include "io.h"

struct gdt_entry { u16 limit_lo, base_lo; u8 base_mid, access, gran, base_hi; } __attribute__((packed));
struct idt_entry { u16 off_lo, sel; u8 zero, type; u16 off_hi; } __attribute__((packed));
struct dt_ptr { u16 limit; u32 base; } __attribute__((packed));

struct tss {
    u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    u32 eax, ecx, edx, ebx, esp, ebp, esi, edi;
    u32 es, cs, ss, ds, fs, gs, ldt;
    u16 trap, iomap_base;
} __attribute__((packed));

static struct gdt_entry gdt[6];
static struct idt_entry idt[256];
static struct tss tss;
extern char isr_stubs[];   /* 256 stubs, 16 bytes apart */

static void gdt_set(int i, u32 base, u32 limit, u8 access, u8 gran)
{
    gdt[i].limit_lo = (u16)limit;
    gdt[i].base_lo = (u16)base;
    gdt[i].base_mid = (u8)(base >> 16);
    gdt[i].access = access;
    gdt[i].gran = (u8)((gran & 0xF0) | ((limit >> 16) & 0x0F));
    gdt[i].base_hi = (u8)(base >> 24);
}

void gdt_init(u32 esp0)
{
    gdt_set(0, 0, 0, 0, 0);
    gdt_set(1, 0, 0xFFFFF, 0x9A, 0xC0);   /* ring-0 code, 4 GiB */
    gdt_set(2, 0, 0xFFFFF, 0x92, 0xC0);   /* ring-0 data */
    gdt_set(3, 0, 0xFFFFF, 0xFA, 0xC0);   /* ring-3 code */
    gdt_set(4, 0, 0xFFFFF, 0xF2, 0xC0);   /* ring-3 data */
    tss.ss0 = SEL_KDATA;
    tss.esp0 = esp0;
    tss.iomap_base = sizeof(tss);         /* no I/O bitmap: ring 3 gets no ports */
    gdt_set(5, (u32)&tss, sizeof(tss) - 1, 0x89, 0x00);

    struct dt_ptr p = { sizeof(gdt) - 1, (u32)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "ljmp %1, $1f\n"
        "1:\n\t"
        "mov %2, %%ax\n\t"
        "mov %%ax, %%ds\n\t"
        "mov %%ax, %%es\n\t"
        "mov %%ax, %%fs\n\t"
        "mov %%ax, %%gs\n\t"
        "mov %%ax, %%ss\n\t"
        "mov %3, %%ax\n\t"
        "ltr %%ax"
        : : "m"(p), "i"(SEL_KCODE), "i"(SEL_KDATA), "i"(SEL_TSS) : "eax", "memory");
}

void idt_set(u32 vector, int dpl, int trap)
{
    u32 h = (u32)(isr_stubs + 16 * vector);
    idt[vector].off_lo = (u16)h;
    idt[vector].off_hi = (u16)(h >> 16);
    idt[vector].sel = SEL_KCODE;
    idt[vector].zero = 0;
    idt[vector].type = (u8)(0x80 | (dpl << 5) | (trap ? 0x0F : 0x0E));
}

void idt_init(void)
{
    for (u32 v = 0; v < 256; v++) idt_set(v, 0, 0);
    struct dt_ptr p = { sizeof(idt) - 1, (u32)idt };
    __asm__ volatile("lidt %0" : : "m"(p));
}

void pic_set_mask(u16 mask)
{
    outb(0x21, (u8)mask);
    outb(0xA1, (u8)(mask >> 8));
}

void pic_init(u16 mask)
{
    outb(0x20, 0x11); outb(0xA0, 0x11);                          /* ICW1: edge, cascade, ICW4 */
    outb(0x21, PIC_VECTOR_BASE); outb(0xA1, PIC_VECTOR_BASE + 8); /* ICW2: vector bases */
    outb(0x21, 0x04); outb(0xA1, 0x02);                          /* ICW3: slave on IRQ2 */
    outb(0x21, 0x01); outb(0xA1, 0x01);                          /* ICW4: 8086 mode */
    pic_set_mask(mask);
}

void pic_eoi(u32 irq)
{
    if (irq >= 8) outb(0xA0, 0x20);
    outb(0x20, 0x20);
}

void pit_init(u32 hz)
{
    u32 divisor = (1193182 + hz / 2) / hz;
    outb(0x43, 0x34);   /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
    outb(0x40, (u8)divisor);
    outb(0x40, (u8)(divisor >> 8));
}
