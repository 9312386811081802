/* Polled output on COM1 (16550 at 0x3F8) and small number formatting. */
#ifndef VMFT_SERIAL_H
#define VMFT_SERIAL_H
#include "types.h"

#define COM1 0x3F8
#define UART_RBR 0
#define UART_THR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
void serial_write(const char *s, u32 n);
void serial_put_hex(u32 v);
void serial_put_dec(u64 v);
#endif
