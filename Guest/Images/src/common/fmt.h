/* Number formatting without libgcc: 64-bit division is done with the CPU's 64/32 DIV.
   Everything is static inline so that ring-3 code gets its own copies in user pages. */
#ifndef VMFT_FMT_H
#define VMFT_FMT_H
#include "types.h"

/* *n /= d; returns the remainder. */
static inline u32 div64_32(u64 *n, u32 d)
{
    u32 hi = (u32)(*n >> 32), lo = (u32)*n;
    u32 qhi = hi / d, r = hi % d, qlo;
    __asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
    *n = ((u64)qhi << 32) | qlo;
    return r;
}

/* Writes v in decimal to buf (at least 20 bytes); returns the length. */
static inline u32 fmt_u64(char *buf, u64 v)
{
    char tmp[20];
    u32 n = 0;
    do tmp[n++] = (char)('0' + div64_32(&v, 10)); while (v);
    for (u32 i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

static inline u32 fmt_i64(char *buf, i64 v)
{
    if (v >= 0) return fmt_u64(buf, (u64)v);
    buf[0] = '-';
    return 1 + fmt_u64(buf + 1, (u64)0 - (u64)v);
}

/* "0x" and 8 hex digits. */
static inline u32 fmt_hex32(char *buf, u32 v)
{
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < 8; i++) buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    return 10;
}

static inline u32 str_len(const char *s)
{
    u32 n = 0;
    while (s[n]) n++;
    return n;
}

static inline int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}
#endif
