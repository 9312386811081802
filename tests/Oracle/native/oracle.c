/* The oracle runner: executes x86 instruction sequences natively, one case at a time, in a
 * 32-bit process with no libc. See oracle.h for the wire format. */
#include "oracle.h"

extern int syscall6(int nr, int a, int b, int c, int d, int e, int f);
extern void run_case(void);
extern void capture(void);
extern void case_done(void);
extern void sig_restorer(void);
extern u32 load_frame[9], capture_frame[9], user_esp;
#ifdef X87
/* The x87 state as FRSTOR loads it before the case and FNSAVE stores it after (32-bit protected-mode layout). */
extern u8 fpu_in[108], fpu_out[108];
#define MAX_PATCHES 64
#else
#define MAX_PATCHES 8
#endif

enum { SYS_exit = 1, SYS_read = 3, SYS_write = 4, SYS_rt_sigaction = 174, SYS_sigaltstack = 186, SYS_mmap2 = 192 };
enum { SIGILL = 4, SIGTRAP = 5, SIGBUS = 7, SIGFPE = 8, SIGSEGV = 11 };
#define SA_SIGINFO 0x4u
#define SA_ONSTACK 0x08000000u
#define SA_RESTORER 0x04000000u
#define SA_NODEFER 0x40000000u

/* i386 struct sigcontext inside the ucontext: offsets in 32-bit words from uc_mcontext. */
enum { SC_EDI = 4, SC_ESI, SC_EBP, SC_ESP, SC_EBX, SC_EDX, SC_ECX, SC_EAX, SC_TRAPNO, SC_ERR, SC_EIP, SC_CS, SC_EFLAGS, SC_ESP_AT_SIGNAL, SC_SS, SC_FPSTATE };
#define UC_MCONTEXT_WORD 5   /* uc_flags, uc_link, uc_stack (3 words) */

struct kernel_sigaction { void *handler; u32 flags; void *restorer; u32 mask[2]; };

static u8 in_buf[1 << 16];
static u32 in_len, in_pos;
static u8 out_buf[1 << 16];
static u32 out_len;
static u8 alt_stack[65536];
static u8 seeded[PAGE_SIZE];

static volatile u32 fault_vector, fault_eip;
#ifdef X87
/* 1 when the x87 state of a faulting case came from the kernel's signal frame: it converts its
 * FXSAVE image to this layout, with CS and DS of its own and no opcode. */
static u8 fpu_from_frame;
#endif
static u32 fault_regs[9];

static void die(int code) { syscall6(SYS_exit, code, 0, 0, 0, 0, 0); for (;;) {} }

static void flush(void)
{
    u32 done = 0;
    while (done < out_len) {
        int n = syscall6(SYS_write, 1, (int)(out_buf + done), (int)(out_len - done), 0, 0, 0);
        if (n <= 0) die(3);
        done += (u32)n;
    }
    out_len = 0;
}

static void put(const void *p, u32 n)
{
    if (out_len + n > sizeof out_buf) flush();
    for (u32 i = 0; i < n; i++) out_buf[out_len++] = ((const u8 *)p)[i];
}

/* Reads exactly n bytes; returns 0 at a clean end of input before the first byte. */
static int get(void *p, u32 n)
{
    for (u32 i = 0; i < n; i++) {
        if (in_pos == in_len) {
            int r = syscall6(SYS_read, 0, (int)in_buf, sizeof in_buf, 0, 0, 0);
            if (r <= 0) { if (i == 0) return 0; die(4); }
            in_len = (u32)r; in_pos = 0;
        }
        ((u8 *)p)[i] = in_buf[in_pos++];
    }
    return 1;
}

/* xorshift32: the generator fills the data page the same way, so only changes travel back. */
static void seed_page(u32 s)
{
    if (s == 0) s = 0x9E3779B9u;
    for (u32 i = 0; i < PAGE_SIZE; i += 4) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        seeded[i] = (u8)s; seeded[i + 1] = (u8)(s >> 8); seeded[i + 2] = (u8)(s >> 16); seeded[i + 3] = (u8)(s >> 24);
    }
}

static void on_fault(int sig, void *info, void *ucontext)
{
    (void)sig; (void)info;
    u32 *mc = (u32 *)ucontext + UC_MCONTEXT_WORD;
    fault_vector = mc[SC_TRAPNO];
    fault_eip = mc[SC_EIP];
    /* Same layout as capture_frame: eflags, edi esi ebp esp ebx edx ecx eax. */
    fault_regs[0] = mc[SC_EFLAGS];
    fault_regs[1] = mc[SC_EDI]; fault_regs[2] = mc[SC_ESI]; fault_regs[3] = mc[SC_EBP]; fault_regs[4] = mc[SC_ESP];
    fault_regs[5] = mc[SC_EBX]; fault_regs[6] = mc[SC_EDX]; fault_regs[7] = mc[SC_ECX]; fault_regs[8] = mc[SC_EAX];
    /* Resume in case_done, which restores the host stack; clear TF/DF/AC so the host runs clean. */
#ifdef X87
    {
        const u8 *fp = (const u8 *)mc[SC_FPSTATE];
        for (u32 i = 0; i < 108; i++) fpu_out[i] = fp ? fp[i] : 0;
        fpu_from_frame = 1;
    }
#endif
    mc[SC_EIP] = (u32)case_done;
    mc[SC_EFLAGS] &= ~((1u << 8) | (1u << 10) | (1u << 18));
}

static void install(int sig)
{
    struct kernel_sigaction sa = { (void *)on_fault, SA_SIGINFO | SA_ONSTACK | SA_RESTORER | SA_NODEFER, (void *)sig_restorer, { 0, 0 } };
    if (syscall6(SYS_rt_sigaction, sig, (int)&sa, 0, 8, 0, 0) != 0) die(5);
}

static void map_page(u32 addr, u32 prot)
{
    int r = syscall6(SYS_mmap2, (int)addr, PAGE_SIZE, (int)prot, 0x22 | 0x10 /* PRIVATE|ANONYMOUS|FIXED */, -1, 0);
    if ((u32)r != addr) die(6);
}

void oracle_main(void)
{
    u32 ss[3] = { (u32)alt_stack, 0, sizeof alt_stack };
    if (syscall6(SYS_sigaltstack, (int)ss, 0, 0, 0, 0, 0) != 0) die(7);
    install(SIGILL); install(SIGTRAP); install(SIGBUS); install(SIGFPE); install(SIGSEGV);
    map_page(CODE_BASE, 7);
    map_page(DATA_BASE, 3);

    u8 *code = (u8 *)CODE_BASE;
    u8 *data = (u8 *)DATA_BASE;
    for (;;) {
        struct regs in;
        u32 seed;
        u8 len;
        if (!get(&in, sizeof in)) break;
        get(&seed, 4);
        u8 npatch;
        struct { u16 off; u32 value; } patch[MAX_PATCHES];
        get(&npatch, 1);
        if (npatch > MAX_PATCHES) die(9);
        for (u32 k = 0; k < npatch; k++) { get(&patch[k].off, 2); get(&patch[k].value, 4); if (patch[k].off > PAGE_SIZE - 4) die(10); }
#ifdef X87
        get(fpu_in, 108);
        fpu_from_frame = 0;
#endif
        get(&len, 1);
        if (len > MAX_CODE) die(8);
        get(code, len);
        /* jmp rel32 to capture */
        code[len] = 0xE9;
        u32 rel = (u32)capture - (CODE_BASE + len + 5);
        code[len + 1] = (u8)rel; code[len + 2] = (u8)(rel >> 8); code[len + 3] = (u8)(rel >> 16); code[len + 4] = (u8)(rel >> 24);

        seed_page(seed);
        for (u32 k = 0; k < npatch; k++)
            for (u32 b = 0; b < 4; b++) seeded[patch[k].off + b] = (u8)(patch[k].value >> (8 * b));
        for (u32 i = 0; i < PAGE_SIZE; i++) data[i] = seeded[i];

        load_frame[0] = in.eflags;
        load_frame[1] = in.r[7]; load_frame[2] = in.r[6]; load_frame[3] = in.r[5]; load_frame[4] = 0;
        load_frame[5] = in.r[3]; load_frame[6] = in.r[2]; load_frame[7] = in.r[1]; load_frame[8] = in.r[0];
        user_esp = in.r[4];
        fault_vector = NO_FAULT;
        run_case();

        const u32 *f = fault_vector == NO_FAULT ? capture_frame : fault_regs;
        u32 esp = fault_vector == NO_FAULT ? user_esp : f[4];
        struct regs out = { { f[8], f[7], f[6], f[5], esp, f[3], f[2], f[1] }, f[0] };
        u32 eip = fault_vector == NO_FAULT ? CODE_BASE + len : fault_eip;
        u32 vec = fault_vector;
        put(&out, sizeof out);
        put(&vec, 4);
        put(&eip, 4);
        u16 changed = 0;
        for (u32 i = 0; i < PAGE_SIZE; i++) changed += data[i] != seeded[i];
        put(&changed, 2);
        for (u32 i = 0; i < PAGE_SIZE; i++)
            if (data[i] != seeded[i]) { u16 off = (u16)i; put(&off, 2); put(&data[i], 1); }
#ifdef X87
        put(fpu_out, 108);
        put(&fpu_from_frame, 1);
#endif
    }
    flush();
    die(0);
}
