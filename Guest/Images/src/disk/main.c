/* disk: a small virtio-blk driver of its own (virtio 1.1 over PCI, the modern interface, polled).
   It finds the device on PCI bus 0, walks its capability list, negotiates VERSION_1, sets up one
   split queue, then reads sectors 0-7 and prints their FNV-1a hash, writes a pattern to sectors
   1-2, flushes, reads them back and compares, asks for the device's ID, and tries a read past the
   end of the disk (which must fail with IOERR). Each result is one line on COM1; exit 0 when every
   step went as expected.
   With `journal` on its command line it then serves a journal on COM1, the workload of the FT
   tests with a disk: each line typed becomes one record, "J <seq> <tsc> <line>", written to sector
   8 + seq and flushed, and only then answered "committed <seq> <tsc>". The time-stamp makes every
   record depend on when the line arrived, so a node that never received a line can never write its
   record: a record on the disk that the surviving guest did not issue is a broken output rule, and
   a record the client saw committed must be on the disk. SHUTDOWN ends the run (exit 0). */
#include "io.h"
#include "serial.h"
#include "fmt.h"
#include "multiboot.h"

void kmain(u32 magic, void *info);

static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }

static u32 pci_read(u32 slot, u32 reg)
{
    outl(0xCF8, 0x80000000u | slot << 11 | (reg & 0xFC));
    return inl(0xCFC);
}

static void pci_write16(u32 slot, u32 reg, u16 v)
{
    outl(0xCF8, 0x80000000u | slot << 11 | (reg & 0xFC));
    outw((u16)(0xCFC + (reg & 2)), v);
}

#define R8(a) (*(volatile u8 *)(a))
#define R16(a) (*(volatile u16 *)(a))
#define R32(a) (*(volatile u32 *)(a))

struct desc { u64 addr; u32 len; u16 flags; u16 next; };
#define QSIZE 8
static struct desc descs[QSIZE] __attribute__((aligned(16)));
static struct { u16 flags, idx, ring[QSIZE], used_event; } avail __attribute__((aligned(2)));
static struct { u16 flags, idx; struct { u32 id, len; } ring[QSIZE]; u16 avail_event; } used __attribute__((aligned(4)));
static struct { u32 type, reserved; u64 sector; } header;
static u8 data[8 * 512] __attribute__((aligned(16)));
static volatile u8 status;
static u32 common, notify, device;
static u16 last_used;
static int failures;

static void line(const char *what, u32 value)
{
    serial_puts(what);
    serial_put_hex(value);
    serial_putc('\n');
}

/* One request: header, optional data (device-writable for reads and GET_ID), status. */
static u8 request(u32 type, u64 sector, u32 length, int device_writes)
{
    header.type = type;
    header.reserved = 0;
    header.sector = sector;
    status = 0xFF;
    u16 n = 0;
    descs[n] = (struct desc){ (u32)&header, 16, 1, 1 }; n++;
    if (length) { descs[n] = (struct desc){ (u32)data, length, (u16)(1 | (device_writes ? 2 : 0)), 2 }; n++; }
    descs[n] = (struct desc){ (u32)&status, 1, 2, 0 };
    avail.ring[avail.idx % QSIZE] = 0;
    __asm__ volatile("" ::: "memory");
    avail.idx++;
    __asm__ volatile("" ::: "memory");
    R16(notify) = 0;
    while (used.idx == last_used) __asm__ volatile("pause" ::: "memory");   /* completes at a position the host logs */
    last_used++;
    return status;
}

static u32 fnv(const u8 *p, u32 n)
{
    u32 h = 2166136261u;
    for (u32 i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static void expect(const char *what, u32 got, u32 want)
{
    line(what, got);
    if (got != want) failures++;
}

/* Whether the space-separated list s holds word. */
static int has_word(const char *s, const char *word)
{
    for (const char *start = s; *s; s++)
    {
        if (s != start && s[-1] != ' ') continue;
        const char *a = s, *b = word;
        while (*b && *a == *b) { a++; b++; }
        if (!*b && (*a == 0 || *a == ' ')) return 1;
    }
    return 0;
}

static int equal(const char *a, const char *b)
{
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

static char serial_getc(void)
{
    while (!(inb(COM1 + UART_LSR) & 0x01)) __asm__ volatile("pause");
    return (char)inb(COM1 + UART_RBR);
}

#define JOURNAL_FIRST_SECTOR 8

static void journal(u32 capacity)
{
    static char text[400];
    serial_puts("journal ready\n");
    for (u32 seq = 0;; seq++)
    {
        u32 n = 0;
        for (char c; (c = serial_getc()) != '\n';) if (c != '\r' && n < sizeof text - 1) text[n++] = c;
        text[n] = 0;
        if (equal(text, "SHUTDOWN")) debug_exit(failures ? 1 : 0);
        if (JOURNAL_FIRST_SECTOR + seq >= capacity) { serial_puts("journal full\n"); debug_exit(1); }
        u32 tsc = (u32)rdtsc();
        char *p = (char *)data;
        for (u32 i = 0; i < 512; i++) p[i] = 0;
        u32 at = 0;
        p[at++] = 'J'; p[at++] = ' ';
        at += fmt_u64(p + at, seq); p[at++] = ' ';
        at += fmt_hex32(p + at, tsc); p[at++] = ' ';
        for (u32 i = 0; i < n && at < 510; i++) p[at++] = text[i];
        p[at] = '\n';
        u8 written = request(1, JOURNAL_FIRST_SECTOR + seq, 512, 0);
        u8 flushed = request(4, 0, 0, 0);
        if (written || flushed) { line("journal: I/O error ", (u32)written << 8 | flushed); debug_exit(1); }
        serial_puts("committed ");
        serial_put_dec(seq);
        serial_putc(' ');
        serial_put_hex(tsc);
        serial_putc('\n');
    }
}

void kmain(u32 magic, void *info)
{
    const struct multiboot_info *mb = info;
    serial_init();
    u32 slot = 0;
    for (; slot < 32; slot++) if (pci_read(slot, 0) == 0x10421AF4u) break;
    if (slot == 32) { serial_puts("disk: no virtio-blk device\n"); debug_exit(1); }
    line("disk: virtio-blk at slot ", slot);
    u32 bar = pci_read(slot, 0x10) & ~0xFu;
    pci_write16(slot, 0x04, 0x0006);                     /* memory decode, bus master */
    for (u32 cap = pci_read(slot, 0x34) & 0xFF; cap; cap = (pci_read(slot, cap) >> 8) & 0xFF)
    {
        u32 head = pci_read(slot, cap);
        if ((head & 0xFF) != 0x09) continue;
        u32 at = bar + pci_read(slot, cap + 8);
        switch (head >> 24)
        {
            case 1: common = at; break;
            case 2: notify = at; break;              /* queue 0: notify_off 0 */
            case 4: device = at; break;
        }
    }
    if (!common || !notify || !device) { serial_puts("disk: capabilities missing\n"); debug_exit(1); }

    R8(common + 0x14) = 0;                                /* reset */
    R8(common + 0x14) = 1;                                /* ACKNOWLEDGE */
    R8(common + 0x14) = 3;                                /* DRIVER */
    R32(common + 0x08) = 0; R32(common + 0x0C) = 0;
    R32(common + 0x08) = 1; R32(common + 0x0C) = 1;      /* VERSION_1 only */
    R8(common + 0x14) = 0x0B;                             /* FEATURES_OK */
    if (!(R8(common + 0x14) & 0x08)) { serial_puts("disk: features refused\n"); debug_exit(1); }
    R16(common + 0x16) = 0;
    R16(common + 0x18) = QSIZE;
    R32(common + 0x20) = (u32)descs; R32(common + 0x24) = 0;
    R32(common + 0x28) = (u32)&avail; R32(common + 0x2C) = 0;
    R32(common + 0x30) = (u32)&used; R32(common + 0x34) = 0;
    R16(common + 0x1C) = 1;
    R8(common + 0x14) = 0x0F;                             /* DRIVER_OK */
    u32 capacity = R32(device);
    line("disk: capacity ", capacity);

    expect("disk: read 0-7 status ", request(0, 0, 8 * 512, 1), 0);
    line("disk: read 0-7 fnv ", fnv(data, 8 * 512));
    for (u32 i = 0; i < 1024; i++) data[i] = (u8)(i * 3 + 1);
    expect("disk: write 1-2 status ", request(1, 1, 1024, 0), 0);
    expect("disk: flush status ", request(4, 0, 0, 0), 0);
    for (u32 i = 0; i < 1024; i++) data[i] = 0;
    expect("disk: read 1-2 status ", request(0, 1, 1024, 1), 0);
    u32 bad = 0;
    for (u32 i = 0; i < 1024; i++) bad += data[i] != (u8)(i * 3 + 1);
    expect("disk: read back mismatches ", bad, 0);
    expect("disk: get id status ", request(8, 0, 20, 1), 0);
    data[20] = 0;
    serial_puts("disk: id ");
    serial_puts((const char *)data);
    serial_putc('\n');
    expect("disk: past the end status ", request(0, capacity, 512, 1), 1);
    serial_puts(failures ? "disk: FAILED\n" : "disk: all ok\n");
    if (magic == MULTIBOOT_BOOTLOADER_MAGIC && (mb->flags & MB_INFO_CMDLINE) && has_word((const char *)mb->cmdline, "journal"))
        journal(capacity);
    debug_exit(failures || magic != 0x2BADB002u ? 1 : 0);
}
