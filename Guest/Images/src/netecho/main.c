/* netecho: a small polled virtio-net driver of its own (virtio 1.1 over PCI, the modern
   interface, VERSION_1 only, no offloads), the guest of the FT network tests. It posts its receive
   buffers, prints "netecho ready" on COM1, then answers every frame it receives with one frame:
   the same bytes with the Ethernet addresses swapped and bytes 14-17 replaced by the number of
   frames it has received before this one (little-endian). A frame received twice, or lost, shows
   in the answers as a wrong count; an answer sent twice or lost shows on the network. It never
   ends by itself. */
#include "io.h"
#include "serial.h"
#include "fmt.h"

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
#define BARRIER() __asm__ volatile("" ::: "memory")

struct desc { u64 addr; u32 len; u16 flags; u16 next; };
#define QSIZE 16
#define HDR 12                 /* virtio_net_hdr with num_buffers (VERSION_1) */
#define BUF (HDR + 1514)

struct queue
{
    struct desc descs[QSIZE] __attribute__((aligned(16)));
    struct { u16 flags, idx, ring[QSIZE], used_event; } avail __attribute__((aligned(2)));
    struct { u16 flags, idx; struct { u32 id, len; } ring[QSIZE]; u16 avail_event; } used __attribute__((aligned(4)));
    u16 last_used;
    u32 notify;
};

static struct queue rxq, txq;
static u8 rxbuf[QSIZE][BUF] __attribute__((aligned(16)));
static u8 txbuf[BUF] __attribute__((aligned(16)));
static u32 common, notify_base, notify_mult;

static void fail(const char *why)
{
    serial_puts("netecho: ");
    serial_puts(why);
    serial_putc('\n');
    debug_exit(1);
}

static void setup(struct queue *q, u16 index)
{
    R16(common + 0x16) = index;
    if (R16(common + 0x18) < QSIZE) fail("queue too small");
    R16(common + 0x18) = QSIZE;
    R32(common + 0x20) = (u32)q->descs; R32(common + 0x24) = 0;
    R32(common + 0x28) = (u32)&q->avail; R32(common + 0x2C) = 0;
    R32(common + 0x30) = (u32)&q->used; R32(common + 0x34) = 0;
    q->notify = notify_base + R16(common + 0x1E) * notify_mult;
    R16(common + 0x1C) = 1;
}

static void post_rx(u16 d)
{
    rxq.descs[d] = (struct desc){ (u32)rxbuf[d], BUF, 2, 0 };    /* device-writable */
    rxq.avail.ring[rxq.avail.idx % QSIZE] = d;
    BARRIER();
    rxq.avail.idx++;
    BARRIER();
}

static void transmit(u32 length)
{
    txq.descs[0] = (struct desc){ (u32)txbuf, HDR + length, 0, 0 };
    txq.avail.ring[txq.avail.idx % QSIZE] = 0;
    BARRIER();
    txq.avail.idx++;
    BARRIER();
    R16(txq.notify) = 1;
    while (txq.used.idx == txq.last_used) __asm__ volatile("pause" ::: "memory");
    txq.last_used++;
}

void kmain(u32 magic, void *info)
{
    (void)magic; (void)info;
    serial_init();
    u32 slot = 0;
    for (; slot < 32; slot++) if (pci_read(slot, 0) == 0x10411AF4u) break;
    if (slot == 32) fail("no virtio-net device");
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
            case 2: notify_base = at; notify_mult = pci_read(slot, cap + 16); break;
        }
    }
    if (!common || !notify_base) fail("capabilities missing");
    R8(common + 0x14) = 0;                                /* reset */
    R8(common + 0x14) = 1;                                /* ACKNOWLEDGE */
    R8(common + 0x14) = 3;                                /* DRIVER */
    R32(common + 0x08) = 0; R32(common + 0x0C) = 0;
    R32(common + 0x08) = 1; R32(common + 0x0C) = 1;      /* VERSION_1 only */
    R8(common + 0x14) = 0x0B;                             /* FEATURES_OK */
    if (!(R8(common + 0x14) & 0x08)) fail("features refused");
    setup(&rxq, 0);
    setup(&txq, 1);
    for (u16 d = 0; d < QSIZE; d++) post_rx(d);
    R8(common + 0x14) = 0x0F;                             /* DRIVER_OK */
    R16(rxq.notify) = 0;
    serial_puts("netecho ready\n");
    for (u32 received = 0;; received++)
    {
        while (rxq.used.idx == rxq.last_used) __asm__ volatile("pause" ::: "memory");
        BARRIER();
        u16 d = (u16)rxq.used.ring[rxq.last_used % QSIZE].id;
        u32 length = rxq.used.ring[rxq.last_used % QSIZE].len;
        rxq.last_used++;
        if (length < HDR + 18) fail("short frame");
        u32 frame = length - HDR;
        const u8 *in = rxbuf[d] + HDR;
        u8 *out = txbuf + HDR;
        for (u32 i = 0; i < HDR; i++) txbuf[i] = 0;
        for (u32 i = 0; i < 6; i++) { out[i] = in[6 + i]; out[6 + i] = in[i]; }
        for (u32 i = 12; i < frame; i++) out[i] = in[i];
        for (u32 i = 0; i < 4; i++) out[14 + i] = (u8)(received >> (8 * i));
        post_rx(d);
        R16(rxq.notify) = 0;
        transmit(frame);
    }
}
