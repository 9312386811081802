#include "serial.h"
#include "io.h"
#include "fmt.h"

void serial_init(void)
{
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x80);   /* DLAB on: divisor 1 = 115200 baud */
    outb(COM1 + 0, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + UART_LCR, 0x03);   /* 8N1 */
    /* FIFOs off (16450 mode): every byte raises its own receive interrupt, nothing depends
       on the character-timeout logic, and a byte that arrived during boot is not flushed. */
    outb(COM1 + UART_FCR, 0x00);
    outb(COM1 + UART_MCR, 0x0B);   /* DTR, RTS, OUT2 (OUT2 gates the IRQ line on a PC) */
}

void serial_putc(char c)
{
    while (!(inb(COM1 + UART_LSR) & 0x20))
        ;
    outb(COM1 + UART_THR, (u8)c);
}

void serial_write(const char *s, u32 n)
{
    for (u32 i = 0; i < n; i++) serial_putc(s[i]);
}

void serial_puts(const char *s)
{
    while (*s) serial_putc(*s++);
}

void serial_put_hex(u32 v)
{
    char buf[11];
    serial_write(buf, fmt_hex32(buf, v));
}

void serial_put_dec(u64 v)
{
    char buf[21];
    serial_write(buf, fmt_u64(buf, v));
}
