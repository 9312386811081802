/* The floats workload: what compiled C does with floating point on an x87 (additions, products,
   quotients, square roots, conversions to and from integers under FLDCW, single and double
   stores, denormals) plus the transcendental instructions through a small libm of its own, and
   decimal formatting of the results, also in C. No libc: the same object code runs in the guest
   and natively. */
#include "workload.h"
#include "fmt.h"

static floats_emit out;

static void put(const char *s)
{
    u32 n = 0;
    while (s[n]) n++;
    out(s, n);
}

/* ---- a small libm on the x87 instructions ---------------------------------------------------- */

static inline long double x_sin(long double x) { long double r; __asm__("fsin" : "=t"(r) : "0"(x)); return r; }
static inline long double x_cos(long double x) { long double r; __asm__("fcos" : "=t"(r) : "0"(x)); return r; }

static inline long double x_tan(long double x)
{
    long double r;
    __asm__("fptan\n\tfstp %%st(0)" : "=t"(r) : "0"(x));
    return r;
}

static inline long double x_atan2(long double y, long double x)
{
    long double r;
    __asm__("fpatan" : "=t"(r) : "0"(x), "u"(y) : "st(1)");
    return r;
}

/* y * log2(x) */
static inline long double x_ylog2x(long double y, long double x)
{
    long double r;
    __asm__("fyl2x" : "=t"(r) : "0"(x), "u"(y) : "st(1)");
    return r;
}

static inline long double x_rndint(long double x) { long double r; __asm__("frndint" : "=t"(r) : "0"(x)); return r; }

static inline long double x_scale(long double x, long double n)
{
    long double r;
    __asm__("fscale" : "=t"(r) : "0"(x), "u"(n));
    return r;
}

static inline long double x_2xm1(long double x) { long double r; __asm__("f2xm1" : "=t"(r) : "0"(x)); return r; }

static long double x_exp2(long double x)
{
    long double n = x_rndint(x);
    return x_scale(x_2xm1(x - n) + 1.0L, n);
}

static long double x_log2e(void) { long double r; __asm__("fldl2e" : "=t"(r)); return r; }
static long double x_ln2(void) { long double r; __asm__("fldln2" : "=t"(r)); return r; }
static long double x_pi(void) { long double r; __asm__("fldpi" : "=t"(r)); return r; }

static long double x_exp(long double x) { return x_exp2(x * x_log2e()); }
static long double x_log(long double x) { return x_ylog2x(x_ln2(), x); }
static long double x_pow(long double b, long double e) { return x_exp2(x_ylog2x(e, b)); }

static inline long long x_llrint(long double x)
{
    long long r;
    __asm__("fistpll %0" : "=m"(r) : "t"(x) : "st");
    return r;
}

/* ---- formatting ------------------------------------------------------------------------------ */

static int is_nan(long double v) { return v != v; }

/* v in scientific notation with `digits` significant digits: -1.2345e+03. */
static void put_e(long double v, int digits)
{
    char buf[48];
    u32 n = 0;
    if (is_nan(v)) { put("nan"); return; }
    if (__builtin_signbit(v)) { buf[n++] = '-'; v = -v; }
    if (v > __LDBL_MAX__) { buf[n] = 0; put(buf); put("inf"); return; }
    int e = 0;
    long double m = v;
    if (m != 0)
    {
        while (m >= 10.0L) { m /= 10.0L; e++; }
        while (m < 1.0L) { m *= 10.0L; e--; }
    }
    long double s = m;
    for (int i = 1; i < digits; i++) s *= 10.0L;
    u64 q = (u64)x_llrint(s);
    u64 limit = 1;
    for (int i = 0; i < digits; i++) limit *= 10;
    if (q >= limit) { q = (u64)x_llrint(s / 10.0L); e++; }
    char d[24];
    for (int i = digits - 1; i >= 0; i--) d[i] = (char)('0' + div64_32(&q, 10));
    buf[n++] = d[0];
    if (digits > 1)
    {
        buf[n++] = '.';
        for (int i = 1; i < digits; i++) buf[n++] = d[i];
    }
    buf[n++] = 'e';
    buf[n++] = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    char t[8];
    u32 k = 0;
    do { t[k++] = (char)('0' + e % 10); e /= 10; } while (e);
    if (k < 2) t[k++] = '0';
    while (k) buf[n++] = t[--k];
    buf[n] = 0;
    put(buf);
}

static void put_i(long long v)
{
    char buf[24];
    u32 n = fmt_i64(buf, v);
    buf[n] = 0;
    put(buf);
}

static void line_e(const char *name, long double v, int digits)
{
    put(name);
    put(" ");
    put_e(v, digits);
    put("\n");
}

static void line_i(const char *name, long long v)
{
    put(name);
    put(" ");
    put_i(v);
    put("\n");
}

/* Exact arithmetic results are printed with 17 digits; transcendental ones with 12 (the last
   bit of an x87 transcendental may differ between implementations and must not show). */
#define EXACT 17
#define TRANS 12

/* ---- the workload ---------------------------------------------------------------------------- */

static volatile double sink;

static void sums(void)
{
    float hf = 0;
    double hd = 0;
    long double hl = 0;
    for (int i = 1; i <= 20000; i++)
    {
        hf += 1.0f / (float)i;
        hd += 1.0 / i;
        hl += 1.0L / i;
    }
    line_e("harmonic_float", hf, 9);
    line_e("harmonic_double", hd, EXACT);
    line_e("harmonic_long_double", hl, 19);

    double s = 0;
    for (int i = 1; i <= 5000; i++) s += __builtin_sqrt((double)i);
    line_e("sqrt_sum", s, EXACT);
    line_e("sqrt2", __builtin_sqrtl(2.0L), 19);

    double pi = 0;
    for (int k = 0; k < 200000; k++) pi += (k & 1 ? -4.0 : 4.0) / (2 * k + 1);
    line_e("leibniz_pi", pi, EXACT);
}

static void newton(void)
{
    double x = 2;
    for (int i = 0; i < 30; i++) x = x - (x * x * x - 10) / (3 * x * x);
    line_e("cbrt10", x, EXACT);
    long double r = 1;
    for (int i = 0; i < 12; i++) r = (r + 3.0L / r) / 2;
    line_e("sqrt3_newton", r, 19);
}

static void mandelbrot(void)
{
    long long total = 0;
    for (int py = 0; py < 24; py++)
        for (int px = 0; px < 64; px++)
        {
            double cx = -2.2 + px * (3.2 / 64), cy = -1.2 + py * (2.4 / 24);
            double zx = 0, zy = 0;
            int it = 0;
            while (it < 200 && zx * zx + zy * zy < 4)
            {
                double t = zx * zx - zy * zy + cx;
                zy = 2 * zx * zy + cy;
                zx = t;
                it++;
            }
            total += it;
        }
    line_i("mandelbrot_iterations", total);
}

static void conversions(void)
{
    static const double values[] = { 2.5, -2.5, 3.7, -3.7, 1e15 + 0.5, -0.49999999999999994, 2147483647.9, 1e-300, 123456789.123 };
    long long acc = 0;
    for (unsigned i = 0; i < sizeof values / sizeof values[0]; i++)
    {
        int t = (int)values[i];                 /* truncation: FNSTCW, FLDCW, FISTP, FLDCW */
        long long l = (long long)(values[i] * 3);
        acc = acc * 31 + t + l;
        line_i("trunc", t);
        line_i("rint", x_llrint(values[i]));    /* round to nearest even under the default CW */
    }
    line_i("conversion_hash", acc);
    float third = 1.0f / 3.0f;
    line_e("third_float", third, 9);
    double third_d = 1.0 / 3.0;
    line_e("third_double", third_d, EXACT);
    unsigned long long big = 18446744073709551557ull;
    line_e("u64_to_double", (double)big, EXACT);
    line_i("double_to_i64", (long long)-9.2233720368547748e18);
}

static void denormals(void)
{
    double d = 1e-300;
    double m = d * 1e-10;       /* a denormal double after the store */
    sink = m;
    line_e("denormal", (long double)sink, EXACT);
    double min = 2.2250738585072014e-308;
    sink = min / 3;
    line_e("denormal_third", (long double)sink, EXACT);
    float f = 1e-30f;
    volatile float g = f * 1e-10f;
    line_e("float_denormal", g, 9);
    long double tiny = 1e-4940L;
    line_e("ext_denormal", tiny * 0.001L, 15);
}

static void hilbert(void)
{
    enum { N = 8 };
    double a[N][N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) a[i][j] = 1.0 / (i + j + 1);
    double det = 1;
    for (int k = 0; k < N; k++)
    {
        det *= a[k][k];
        for (int i = k + 1; i < N; i++)
        {
            double f = a[i][k] / a[k][k];
            for (int j = k; j < N; j++) a[i][j] -= f * a[k][j];
        }
    }
    line_e("hilbert8_det", det, EXACT);
}

static void transcendental(void)
{
    long double s = 0, c = 0;
    for (int i = 0; i < 2000; i++)
    {
        s += x_sin(i * 0.01L);
        c += x_cos(i * 0.01L);
    }
    line_e("sin_sum", s, TRANS);
    line_e("cos_sum", c, TRANS);
    line_e("tan_1", x_tan(1.0L), TRANS);
    line_e("atan2_1_1", x_atan2(1.0L, 1.0L) * 4, TRANS);
    line_e("atan2_m1_m2", x_atan2(-1.0L, -2.0L), TRANS);
    line_e("exp_1", x_exp(1.0L), TRANS);
    line_e("log_10", x_log(10.0L), TRANS);
    line_e("pow_2_0_5", x_pow(2.0L, 0.5L), TRANS);
    line_e("pi", x_pi(), 19);
    long double g = 0;
    for (int i = 1; i <= 500; i++) g += x_log((long double)i);
    line_e("log_factorial_500", g, TRANS);
    /* sin of multiples of pi: the 66-bit pi of the reduction shows in the result. */
    line_e("sin_pi", x_sin(x_pi()), TRANS);
    line_e("sin_1e6", x_sin(1e6L), TRANS);
}

void floats_run(floats_emit emit)
{
    out = emit;
    __asm__ volatile("fninit");
    put("floats start\n");
    sums();
    newton();
    mandelbrot();
    conversions();
    denormals();
    hilbert();
    transcendental();
    put("floats done\n");
}
