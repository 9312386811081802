/* selftest: one PASS/FAIL line per check on COM1, then exit through the debug-exit port with
   the number of failures. Each check exercises one piece of the machine the way a kernel does:
   descriptor tables, paging and page faults, ring 3 and the ways back, SYSENTER/SYSEXIT, the
   timer and serial interrupts, HLT, RDTSC and CPUID. */
#include "io.h"
#include "serial.h"
#include "x86.h"
#include "multiboot.h"

void kmain(u32 magic, struct multiboot_info *info);
u32 sysenter_handler(u32 eax);
void sysenter_entry(void);

#define USER_RETURN_VECTOR 0x81
#define SYS_ECHO 1    /* -> 2 * EBX + 1 */
#define SYS_TICKS 2

#define HIGH_BASE 0x40000000u   /* a 4 MiB window with no page table until the first fault */

static u32 failures;

static u32 page_dir[1024] __attribute__((aligned(4096)));
static u32 pt_low[2][1024] __attribute__((aligned(4096)));   /* identity map of 0-8 MiB */
static u32 pt_high[1024] __attribute__((aligned(4096)));
static u8 fault_frames[2][4096] __attribute__((aligned(4096)));
static u8 alias_target[4096] __attribute__((aligned(4096)));
static u8 secret_page[4096] __attribute__((aligned(4096)));   /* supervisor-only until granted */
static u8 interrupt_stack[8192] __attribute__((aligned(16)));
static u8 sysenter_stack[4096] __attribute__((aligned(16)));
static u8 user_stack[8192] __attribute__((aligned(16)));
#define TOP(stack) ((u32)((stack) + sizeof(stack)))

static volatile u64 ticks;
static volatile u32 ticks_in_ring3;
static volatile u32 breakpoints;

enum { PF_UNEXPECTED, PF_MAP_FRESH, PF_GRANT_USER };
static volatile int pf_mode;
static volatile u32 pf_count, pf_cr2, pf_err, pf_cs;
static u32 fresh_frames_used;

static volatile u32 sc_cs, sc_ss, sc_frame_addr;
static volatile u32 se_cs, se_ss, se_esp;

static const char thre_text[] = "selftest: this line was sent by THR-empty interrupts\n";
static volatile u32 thre_pos, thre_irqs, thre_done;

static void check(const char *name, int ok, u32 detail1, u32 detail2)
{
    serial_puts(ok ? "PASS " : "FAIL ");
    serial_puts(name);
    if (!ok) {
        serial_puts(" (");
        serial_put_hex(detail1);
        serial_putc(' ');
        serial_put_hex(detail2);
        serial_putc(')');
        failures++;
    }
    serial_putc('\n');
}

static u16 read_cs(void) { u16 v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v; }
static u16 read_ss(void) { u16 v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v; }
static u16 read_ds(void) { u16 v; __asm__ volatile("mov %%ds, %0" : "=r"(v)); return v; }

static void unexpected(struct frame *f)
{
    serial_puts("FAIL unexpected_interrupt (vector=");
    serial_put_hex(f->vector);
    serial_puts(" err=");
    serial_put_hex(f->err);
    serial_puts(" eip=");
    serial_put_hex(f->eip);
    serial_puts(" cr2=");
    serial_put_hex(read_cr2());
    serial_puts(")\n");
    debug_exit((u8)(failures + 1));
}

static void page_fault(struct frame *f)
{
    u32 cr2 = read_cr2(), page = cr2 & ~0xFFFu;
    pf_count++;
    pf_cr2 = cr2;
    pf_err = f->err;
    pf_cs = f->cs;
    if (pf_mode == PF_MAP_FRESH && (page >> 22) == (HIGH_BASE >> 22) && fresh_frames_used < 2) {
        if (!(page_dir[page >> 22] & 1)) page_dir[page >> 22] = (u32)pt_high | 0x3;
        pt_high[(page >> 12) & 1023] = (u32)fault_frames[fresh_frames_used++] | 0x3;
        invlpg(page);
    } else if (pf_mode == PF_GRANT_USER && page < 8u << 20) {
        pt_low[page >> 22][(page >> 12) & 1023] |= 0x4;
        invlpg(page);
    } else {
        unexpected(f);
    }
}

static void uart_irq(void)
{
    u8 iir = inb(COM1 + UART_IIR);
    if ((iir & 0x0F) != 0x02) return;   /* not "THR empty" */
    thre_irqs++;
    if (thre_text[thre_pos]) {
        outb(COM1 + UART_THR, (u8)thre_text[thre_pos++]);
    } else {
        outb(COM1 + UART_IER, 0x00);
        thre_done = 1;
    }
}

void isr_dispatch(struct frame *f)
{
    switch (f->vector) {
    case 3:
        breakpoints++;
        return;
    case 14:
        page_fault(f);
        return;
    case PIC_VECTOR_BASE + 0:
        ticks++;
        if ((f->cs & 3) == 3) ticks_in_ring3++;
        pic_eoi(0);
        return;
    case PIC_VECTOR_BASE + 4:
        uart_irq();
        pic_eoi(4);
        return;
    case PIC_VECTOR_BASE + 7:
        return;   /* spurious */
    case 0x80:
        sc_cs = f->cs;
        sc_ss = f->user_ss;
        sc_frame_addr = (u32)f;
        if (f->eax == SYS_ECHO) f->eax = 2 * f->ebx + 1;
        else if (f->eax == SYS_TICKS) f->eax = (u32)ticks;
        else f->eax = (u32)-1;
        return;
    case USER_RETURN_VECTOR:
        if ((f->cs & 3) != 3) unexpected(f);
        resume_kernel(f->eax);
    default:
        unexpected(f);
    }
}

/* ---- ring-3 code (all pages but secret_page are user-accessible) ---- */

static inline __attribute__((noreturn)) void user_return(u32 v)
{
    __asm__ volatile("int %0" : : "i"(USER_RETURN_VECTOR), "a"(v) : "memory");
    __builtin_unreachable();
}

static inline u32 user_syscall(u32 nr, u32 arg)
{
    u32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(arg) : "memory");
    return r;
}

static void user_report_cpl(void) { user_return(read_cs() & 3); }

static void user_echo(void) { user_return(user_syscall(SYS_ECHO, 20)); }

static void user_read_secret(void) { user_return(((volatile u32 *)secret_page)[3]); }

static void user_sysenter(void)
{
    u32 r;
    __asm__ volatile(
        "mov %%esp, %%ecx\n\t"
        "mov $1f, %%edx\n\t"
        "sysenter\n"
        "1:"
        : "=a"(r) : "a"(14) : "ecx", "edx", "memory");
    user_return((r == 42) | ((read_cs() == SEL_UCODE) << 1) | ((read_ss() == SEL_UDATA) << 2));
}

/* Spins in ring 3 until the kernel has counted three more timer ticks. */
static void user_wait_ticks(void)
{
    u32 start = user_syscall(SYS_TICKS, 0);
    for (u32 i = 0; i < 50000000u; i++)
        if (user_syscall(SYS_TICKS, 0) - start >= 3) user_return(1);
    user_return(0);
}

/* SYSENTER lands here on sysenter_stack with CS=0x08, SS=0x10 and IF clear; ECX/EDX hold the
   user stack and return address, which SYSEXIT consumes. */
__asm__(
    ".text\n"
    ".globl sysenter_entry\n"
    "sysenter_entry:\n\t"
    "push %ecx\n\t"
    "push %edx\n\t"
    "push %eax\n\t"
    "call sysenter_handler\n\t"
    "add $4, %esp\n\t"
    "pop %edx\n\t"
    "pop %ecx\n\t"
    "sysexit\n");

u32 sysenter_handler(u32 eax)
{
    u32 esp;
    __asm__ volatile("mov %%esp, %0" : "=r"(esp));
    se_cs = read_cs();
    se_ss = read_ss();
    se_esp = esp;
    return eax * 3;
}

/* ---- the checks ---- */

static void check_descriptor_tables(void)
{
    gdt_init(TOP(interrupt_stack));
    idt_init();
    idt_set(0x80, 3, 0);
    idt_set(USER_RETURN_VECTOR, 3, 0);
    pic_init(0xFFFF);   /* the BIOS left IRQ0 at vector 8; remap before anything can fire */
    u16 tr;
    __asm__ volatile("str %0" : "=r"(tr));
    check("protected_mode", (read_cr0() & 1) && read_cs() == SEL_KCODE && read_ds() == SEL_KDATA, read_cr0(), read_cs());
    check("tss_loaded", tr == SEL_TSS, tr, 0);
    __asm__ volatile("int3");
    check("int3_exception", breakpoints == 1, breakpoints, 0);
}

static void check_cpuid(void)
{
    u32 a, b, c, d;
    cpuid(0, &a, &b, &c, &d);
    u32 vendor[3] = { b, d, c };
    int printable = 1;
    for (int i = 0; i < 12; i++) {
        u8 ch = ((u8 *)vendor)[i];
        if (ch < 0x20 || ch > 0x7E) printable = 0;
    }
    u32 max = a;
    cpuid(1, &a, &b, &c, &d);
    check("cpuid", max >= 1 && printable && (d & (1u << 4)), max, d);   /* bit 4: TSC */
}

static void check_paging(void)
{
    for (u32 t = 0; t < 2; t++) {
        for (u32 i = 0; i < 1024; i++) {
            u32 addr = (t << 22) | (i << 12);
            pt_low[t][i] = addr == 0 ? 0 : addr | 0x7;
        }
        page_dir[t] = (u32)pt_low[t] | 0x7;
    }
    pt_low[0][(u32)secret_page >> 12] &= ~0x4u;
    write_cr3((u32)page_dir);
    write_cr0(read_cr0() | 0x80000000u);
    check("paging_enabled", (read_cr0() & 0x80000001u) == 0x80000001u, read_cr0(), 0);

    pf_mode = PF_MAP_FRESH;
    volatile u32 *p = (volatile u32 *)HIGH_BASE;
    *p = 0xCAFEBABEu;   /* no page table yet: #PF, not present, write, supervisor */
    check("page_fault_write", pf_count == 1 && pf_cr2 == HIGH_BASE && pf_err == 0x2 && *p == 0xCAFEBABEu
          && *(u32 *)fault_frames[0] == 0xCAFEBABEu, pf_cr2, pf_err);

    volatile u32 *q = (volatile u32 *)(HIGH_BASE + 0x1006);
    u32 v = *q;          /* page table present, entry not: #PF, not present, read */
    check("page_fault_read", pf_count == 2 && pf_cr2 == HIGH_BASE + 0x1006 && pf_err == 0x0 && v == 0
          && fresh_frames_used == 2, pf_cr2, pf_err);
    pf_mode = PF_UNEXPECTED;

    pt_high[2] = (u32)alias_target | 0x3;
    invlpg(HIGH_BASE + 0x2000);
    *(volatile u32 *)(HIGH_BASE + 0x2010) = 0x12345678u;
    check("paging_alias", ((volatile u32 *)alias_target)[4] == 0x12345678u, ((u32 *)alias_target)[4], 0);
}

static void check_ring3(void)
{
    u32 r = enter_user(user_report_cpl, TOP(user_stack), 0x002);
    check("ring3_iret", r == 3, r, 0);
    check("return_via_gate", read_cs() == SEL_KCODE && read_ss() == SEL_KDATA, read_cs(), read_ss());

    r = enter_user(user_echo, TOP(user_stack), 0x002);
    int on_esp0_stack = sc_frame_addr >= (u32)interrupt_stack && sc_frame_addr < TOP(interrupt_stack);
    check("int80_from_ring3", r == 41 && sc_cs == SEL_UCODE && sc_ss == SEL_UDATA && on_esp0_stack, r, sc_frame_addr);

    ((volatile u32 *)secret_page)[3] = 0x5EC2E7u;
    pf_mode = PF_GRANT_USER;
    u32 before = pf_count;
    r = enter_user(user_read_secret, TOP(user_stack), 0x002);
    pf_mode = PF_UNEXPECTED;
    /* error code 5: protection violation (present), read, from user mode */
    check("page_fault_user", r == 0x5EC2E7u && pf_count == before + 1 && pf_err == 0x5
          && pf_cr2 == (u32)secret_page + 12 && pf_cs == SEL_UCODE, pf_err, pf_cr2);
}

static void check_sysenter(void)
{
    u32 a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    wrmsr(0x174, SEL_KCODE);
    wrmsr(0x175, TOP(sysenter_stack));
    wrmsr(0x176, (u32)sysenter_entry);
    u32 r = enter_user(user_sysenter, TOP(user_stack), 0x002);
    int kernel_side = se_cs == SEL_KCODE && se_ss == SEL_KDATA
                      && se_esp > (u32)sysenter_stack && se_esp < TOP(sysenter_stack);
    check("sysenter_sysexit", (d & (1u << 11)) && r == 7 && kernel_side, r, d);   /* bit 11: SEP */
}

static void check_timer(void)
{
    pic_set_mask(0xFFFF & ~1u);
    pit_init(1000);
    sti();
    for (u32 i = 0; i < 100000000u && ticks < 3; i++) __asm__ volatile("pause");
    cli();
    check("pit_irq0", ticks >= 3, (u32)ticks, 0);

    u64 t = ticks;
    __asm__ volatile("sti; hlt; cli" ::: "memory");
    check("hlt_wakeup", ticks > t, (u32)ticks, (u32)t);

    u32 r = enter_user(user_wait_ticks, TOP(user_stack), 0x202);
    check("irq_in_ring3", r == 1 && ticks_in_ring3 > 0, r, ticks_in_ring3);
}

static void check_serial_interrupts(void)
{
    pic_set_mask(0xFFFF & ~((1u << 0) | (1u << 4)));
    outb(COM1 + UART_IER, 0x02);   /* THR empty: raised at once, the THR being empty now */
    sti();
    for (u32 i = 0; i < 100000000u && !thre_done; i++) __asm__ volatile("pause");
    cli();
    u32 len = sizeof thre_text - 1;
    check("serial_thre_irq", thre_done && thre_pos == len && thre_irqs == len + 1, thre_pos, thre_irqs);
}

static void check_rdtsc(void)
{
    u64 first = rdtsc(), prev = first;
    int monotonic = 1;
    for (int i = 0; i < 1000; i++) {
        u64 now = rdtsc();
        if (now < prev) monotonic = 0;
        prev = now;
    }
    check("rdtsc_monotonic", monotonic && prev > first, (u32)first, (u32)prev);
}

void kmain(u32 magic, struct multiboot_info *info)
{
    serial_init();
    serial_puts("selftest start\n");
    check("multiboot", magic == MULTIBOOT_BOOTLOADER_MAGIC && (info->flags & MB_INFO_MEMORY) && info->mem_upper >= 7 * 1024,
          magic, info->mem_upper);
    check_descriptor_tables();
    check_cpuid();
    check_paging();
    check_ring3();
    check_sysenter();
    check_timer();
    check_serial_interrupts();
    check_rdtsc();
    serial_puts("selftest done failures=");
    serial_put_dec(failures);
    serial_putc('\n');
    debug_exit((u8)failures);
}
