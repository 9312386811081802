/* kvstore's kernel: protected mode with its own GDT/TSS/IDT, identity paging in which only the
   server's pages are user-accessible, the PIT at 100 Hz, interrupt-driven serial input into a
   ring buffer, and the int 0x80 system calls in syscall.h. The server runs in ring 3. */
#include "io.h"
#include "serial.h"
#include "x86.h"
#include "syscall.h"

void kmain(u32 magic, void *info);
void server_main(void);   /* server.c, ring 3 */
extern u8 server_stack[SERVER_STACK_SIZE];

extern char __user_start[], __user_end[];

#define MAPPED_MB 8
#define RX_SIZE 4096   /* power of two */

static u32 page_dir[1024] __attribute__((aligned(4096)));
static u32 page_tables[MAPPED_MB / 4][1024] __attribute__((aligned(4096)));
static u8 interrupt_stack[8192] __attribute__((aligned(16)));

static u8 rx_buf[RX_SIZE];
static volatile u32 rx_head, rx_tail;
static volatile u64 ticks;

static void panic_exception(struct frame *f)
{
    serial_puts("kvstore: exception ");
    serial_put_hex(f->vector);
    serial_puts(" err=");
    serial_put_hex(f->err);
    serial_puts(" eip=");
    serial_put_hex(f->eip);
    serial_puts(" cs=");
    serial_put_hex(f->cs);
    serial_puts(" cr2=");
    serial_put_hex(read_cr2());
    serial_putc('\n');
    debug_exit(3);
}

static void uart_irq(void)
{
    while (inb(COM1 + UART_LSR) & 0x01) {
        u8 b = inb(COM1 + UART_RBR);
        u32 next = (rx_head + 1) & (RX_SIZE - 1);
        if (next != rx_tail) {   /* full: drop, the sender outran a 4 KiB buffer */
            rx_buf[rx_head] = b;
            rx_head = next;
        }
    }
}

static int user_range_ok(u32 addr, u32 len)
{
    u32 lo = (u32)__user_start, hi = (u32)__user_end;
    return addr >= lo && addr <= hi && len <= hi - addr;
}

static void syscall(struct frame *f)
{
    switch (f->eax) {
    case SYS_READ_BYTE:
        /* The gate is an interrupt gate, so IF is clear here; STI;HLT opens the window for
           exactly one wake-up (STI's shadow covers the HLT, so no interrupt slips between). */
        while (rx_head == rx_tail) __asm__ volatile("sti; hlt; cli" ::: "memory");
        f->eax = rx_buf[rx_tail];
        rx_tail = (rx_tail + 1) & (RX_SIZE - 1);
        break;
    case SYS_WRITE:
        if (!user_range_ok(f->ebx, f->ecx)) { f->eax = (u32)-1; break; }
        serial_write((const char *)f->ebx, f->ecx);
        f->eax = f->ecx;
        break;
    case SYS_TICKS: {
        u64 t = ticks;
        f->eax = (u32)t;
        f->edx = (u32)(t >> 32);
        break;
    }
    case SYS_RDTSC: {
        u64 t = rdtsc();
        f->eax = (u32)t;
        f->edx = (u32)(t >> 32);
        break;
    }
    case SYS_EXIT:
        debug_exit((u8)f->ebx);
    default:
        f->eax = (u32)-1;
    }
}

void isr_dispatch(struct frame *f)
{
    switch (f->vector) {
    case PIC_VECTOR_BASE + 0:
        ticks++;
        pic_eoi(0);
        return;
    case PIC_VECTOR_BASE + 4:
        uart_irq();
        pic_eoi(4);
        return;
    case PIC_VECTOR_BASE + 7:
    case PIC_VECTOR_BASE + 15:
        return;   /* spurious: no EOI */
    case 0x80:
        syscall(f);
        return;
    default:
        if (f->vector >= PIC_VECTOR_BASE && f->vector < PIC_VECTOR_BASE + 16) {
            pic_eoi(f->vector - PIC_VECTOR_BASE);
            return;
        }
        panic_exception(f);
    }
}

static void paging_init(void)
{
    u32 ulo = (u32)__user_start, uhi = (u32)__user_end;
    for (u32 t = 0; t < MAPPED_MB / 4; t++) {
        for (u32 i = 0; i < 1024; i++) {
            u32 addr = (t << 22) | (i << 12);
            u32 flags = 0x3;                                /* present, writable, supervisor */
            if (addr >= ulo && addr < uhi) flags |= 0x4;   /* the server's pages: user */
            page_tables[t][i] = addr == 0 ? 0 : addr | flags;  /* page 0 unmapped: null traps */
        }
        page_dir[t] = (u32)page_tables[t] | 0x7;   /* the PTEs decide who may access */
    }
    write_cr3((u32)page_dir);
    write_cr0(read_cr0() | 0x80010000u);   /* PG, and WP so ring 0 respects read-only too */
}

void kmain(u32 magic, void *info)
{
    (void)magic;
    (void)info;
    serial_init();
    gdt_init((u32)(interrupt_stack + sizeof(interrupt_stack)));
    idt_init();
    idt_set(0x80, 3, 0);
    pic_init(0xFFFF & ~((1u << 0) | (1u << 4)));
    pit_init(TICK_HZ);
    paging_init();
    outb(COM1 + UART_IER, 0x01);   /* receive-data interrupts only; output is polled */
    enter_user(server_main, (u32)(server_stack + SERVER_STACK_SIZE), 0x202);
    debug_exit(4);   /* the server never returns to the kernel */
}
