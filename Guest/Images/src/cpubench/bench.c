/* One iteration: sort 64 pseudo-random words, hash a 256-byte buffer, run a loop in a small
   bytecode interpreter and multiply two 8x8 integer matrices. The generator state carries from
   one iteration to the next, so the checksum for N iterations depends on all N. */
#include "bench.h"

static uint32_t next(uint32_t *s)
{
    uint32_t x = *s;   /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static uint32_t mix(uint32_t h, uint32_t v)
{
    h ^= v;
    h *= 0x01000193u;
    return h ^ (h >> 15);
}

static uint32_t sort_step(uint32_t *s)
{
    uint32_t a[64];
    for (int i = 0; i < 64; i++) a[i] = next(s);
    for (int i = 1; i < 64; i++) {   /* insertion sort */
        uint32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
    uint32_t h = 0;
    for (int i = 0; i < 64; i++) {
        if (i > 0 && a[i - 1] > a[i]) h ^= 0xDEADBEEFu;   /* never, unless the CPU is wrong */
        h = mix(h, a[i]);
    }
    return h;
}

static uint32_t hash_step(uint32_t *s)
{
    uint8_t buf[256];
    for (int i = 0; i < 256; i += 4) {
        uint32_t v = next(s);
        buf[i] = (uint8_t)v;
        buf[i + 1] = (uint8_t)(v >> 8);
        buf[i + 2] = (uint8_t)(v >> 16);
        buf[i + 3] = (uint8_t)(v >> 24);
    }
    uint32_t h = 2166136261u;   /* FNV-1a, then a rotate-multiply pass */
    for (int i = 0; i < 256; i++) h = (h ^ buf[i]) * 16777619u;
    for (int i = 0; i < 256; i++) {
        h += buf[i];
        h = (h << 7) | (h >> 25);
        h *= 0x9E3779B1u;
    }
    return h;
}

enum { OP_HALT, OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_XOR, OP_SHR, OP_JNZ, OP_DUP, OP_DROP };

/* r2 = 0; do { r2 = (r2 + r1 * r0) ^ (r2 >> 3); r1 = r1 * 1103515245 + 12345; } while (--r0);
   Registers r0 (count) and r1 (seed) are set by the caller; the result is r2. */
static const uint8_t program[] = {
    OP_PUSH, 0, OP_STORE, 2,
    /* loop (offset 4): */
    OP_LOAD, 2, OP_LOAD, 1, OP_LOAD, 0, OP_MUL, OP_ADD,
    OP_LOAD, 2, OP_PUSH, 3, OP_SHR, OP_XOR, OP_STORE, 2,
    OP_LOAD, 1, OP_PUSH, 0xFF, OP_MUL, OP_PUSH, 77, OP_ADD, OP_STORE, 1,
    OP_LOAD, 0, OP_PUSH, 1, OP_SUB, OP_DUP, OP_STORE, 0,
    OP_JNZ, 4,
    OP_HALT,
};

static uint32_t interp_step(uint32_t *s)
{
    uint32_t reg[4] = { 64 + (next(s) & 63), next(s), 0, 0 };
    uint32_t stack[16];
    int sp = 0;
    uint32_t pc = 0;
    for (;;) {
        uint8_t op = program[pc++];
        switch (op) {
        case OP_PUSH: stack[sp++] = program[pc++]; break;
        case OP_LOAD: stack[sp++] = reg[program[pc++] & 3]; break;
        case OP_STORE: reg[program[pc++] & 3] = stack[--sp]; break;
        case OP_ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case OP_SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case OP_MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case OP_XOR: sp--; stack[sp - 1] ^= stack[sp]; break;
        case OP_SHR: sp--; stack[sp - 1] >>= stack[sp] & 31; break;
        case OP_DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case OP_DROP: sp--; break;
        case OP_JNZ: {
            uint8_t target = program[pc++];
            if (stack[--sp] != 0) pc = target;
            break;
        }
        default: return reg[2];   /* OP_HALT */
        }
    }
}

static uint32_t matmul_step(uint32_t *s)
{
    uint32_t a[8][8], b[8][8], c[8][8];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            uint32_t v = next(s);
            a[i][j] = v & 0xFFFF;
            b[i][j] = v >> 16;
        }
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            uint32_t sum = 0;
            for (int k = 0; k < 8; k++) sum += a[i][k] * b[k][j];
            c[i][j] = sum;
        }
    uint32_t h = 0;
    for (int i = 0; i < 8; i++) h = mix(h, c[i][i] ^ c[i][7 - i]);
    return h;
}

uint32_t bench_run(uint32_t iterations)
{
    uint32_t state = 0x2545F491u, check = 0x811C9DC5u;
    for (uint32_t i = 0; i < iterations; i++) {
        check = mix(check, sort_step(&state));
        check = mix(check, hash_step(&state));
        check = mix(check, interp_step(&state));
        check = mix(check, matmul_step(&state));
    }
    return check;
}
