namespace VmFt.Guest.Processor.X87;

// The basic operations, each exact before its one rounding: add and subtract (operands aligned in
// 128 bits with a sticky bit), multiply (the full 128-bit product), divide (128 quotient bits plus
// a sticky remainder bit) and square root (digit by digit, with a sticky remainder bit).
internal static partial class Fp80
{
    /// <summary>a + b (or a - b), rounded to the precision control: FADD, FSUB, FSUBR.</summary>
    internal static Float80 Add(Float80 a, Float80 b, bool subtract, ref FpContext c)
    {
        if (Special2(a, b, ref c, out var r)) return r;
        bool sa = a.Negative, sb = b.Negative ^ subtract;
        bool ia = a.IsInfinity, ib = b.IsInfinity;
        if (ia || ib)
        {
            if (ia && ib && sa != sb) return Invalid(ref c);
            return ia ? a : b.WithSign(sb);
        }
        bool za = a.IsZero, zb = b.IsZero;
        if (za && zb)
            return sa == sb ? a : (c.Rounding == 1 ? Float80.NegativeZero : Float80.Zero);
        if (zb) return RoundOperand(a, c.Precision, ref c);
        if (za) return RoundOperand(b.WithSign(sb), c.Precision, ref c);

        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);
        // Larger magnitude first.
        if (eb > ea || (eb == ea && mb > ma))
        {
            (ea, eb) = (eb, ea);
            (ma, mb) = (mb, ma);
            (sa, sb) = (sb, sa);
        }
        UInt128 x = (UInt128)ma << 63; // bit 126: room for a carry
        UInt128 y = ShiftRightSticky((UInt128)mb << 63, ea - eb);
        UInt128 sum;
        if (sa == sb) sum = x + y;
        else
        {
            sum = x - y;
            if (sum == UInt128.Zero) return c.Rounding == 1 ? Float80.NegativeZero : Float80.Zero;
        }
        // x's bit 126 stands for 2^(ea - 16383): as a bit-127 significand the exponent is ea + 1.
        return RoundToRegister(sa, ea + 1, sum, c.Precision, ref c);
    }

    /// <summary>A finite value rounded to the precision control (the other operand of an addition was zero).</summary>
    internal static Float80 RoundOperand(Float80 a, int precision, ref FpContext c)
    {
        if (a.IsZero) return a;
        Unpack(a, out int e, out ulong m);
        return RoundToRegister(a.Negative, e, (UInt128)m << 64, precision, ref c);
    }

    internal static UInt128 ShiftRightSticky(UInt128 v, int n)
    {
        if (n <= 0) return v;
        if (n >= 128) return v != UInt128.Zero ? UInt128.One : UInt128.Zero;
        UInt128 lost = v & ((UInt128.One << n) - 1);
        return (v >> n) | (lost != UInt128.Zero ? UInt128.One : UInt128.Zero);
    }

    /// <summary>a * b: FMUL.</summary>
    internal static Float80 Mul(Float80 a, Float80 b, ref FpContext c)
    {
        if (Special2(a, b, ref c, out var r)) return r;
        bool sign = a.Negative ^ b.Negative;
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsZero || b.IsZero) return Invalid(ref c);
            return new Float80(sign, 0x7FFF, Float80.IntegerBit);
        }
        if (a.IsZero || b.IsZero) return new Float80(sign, 0, 0);
        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);
        UInt128 p = (UInt128)ma * mb;
        return RoundToRegister(sign, ea + eb - Float80.Bias + 1, p, c.Precision, ref c);
    }

    /// <summary>a / b: FDIV, FDIVR.</summary>
    internal static Float80 Div(Float80 a, Float80 b, ref FpContext c)
    {
        bool sign = a.Negative ^ b.Negative;
        // A zero divisor comes before the denormal check: x / 0 raises ZE alone.
        if (b.IsZero && !a.IsUnsupported && !a.IsNaN && !a.IsZero && !a.IsInfinity)
        {
            c.Flags |= FpContext.ZE;
            return new Float80(sign, 0x7FFF, Float80.IntegerBit);
        }
        if (Special2(a, b, ref c, out var r)) return r;
        if (a.IsInfinity)
        {
            if (b.IsInfinity) return Invalid(ref c);
            return new Float80(sign, 0x7FFF, Float80.IntegerBit);
        }
        if (b.IsInfinity) return new Float80(sign, 0, 0);
        if (b.IsZero)
        {
            if (a.IsZero) return Invalid(ref c);
            c.Flags |= FpContext.ZE;
            return new Float80(sign, 0x7FFF, Float80.IntegerBit);
        }
        if (a.IsZero) return new Float80(sign, 0, 0);
        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);
        UInt128 q = DivideSignificands(ma, mb, out bool aboveOne);
        int e = ea - eb + Float80.Bias - (aboveOne ? 0 : 1);
        return RoundToRegister(sign, e, q, c.Precision, ref c);
    }

    /// <summary>
    /// ma / mb (both with bit 63 set) as 128 quotient bits with bit 127 set, the lowest bit sticky.
    /// <paramref name="aboveOne"/>: ma >= mb (the quotient's leading bit has weight 2^0).
    /// </summary>
    internal static UInt128 DivideSignificands(ulong ma, ulong mb, out bool aboveOne)
    {
        aboveOne = ma >= mb;
        UInt128 n = aboveOne ? (UInt128)ma << 63 : (UInt128)ma << 64;
        UInt128 q1 = n / mb;
        UInt128 r1 = n - q1 * mb;
        UInt128 n2 = r1 << 64;
        UInt128 q2 = n2 / mb;
        UInt128 r2 = n2 - q2 * mb;
        UInt128 q = (q1 << 64) | q2;
        if (r2 != UInt128.Zero) q |= UInt128.One;
        return q;
    }

    /// <summary>The square root: FSQRT.</summary>
    internal static Float80 Sqrt(Float80 a, ref FpContext c)
    {
        // A negative operand is invalid before it is denormal.
        if (a.Negative && !a.IsZero && !a.IsNaN && !a.IsUnsupported) return Invalid(ref c);
        if (Special1(a, ref c, out var r)) return r;
        if (a.IsZero) return a;
        if (a.Negative) return Invalid(ref c);
        if (a.IsInfinity) return a;
        Unpack(a, out int ea, out ulong ma);
        // a = ma * 2^(k - 63), k unbiased. Radicand S = ma << t with (k - 63 - t) even: sqrt(a) = sqrt(S) * 2^((k - 63 - t) / 2).
        int k = ea - Float80.Bias;
        int t = ((k - 63 - 72) & 1) == 0 ? 72 : 73;
        int bits = 64 + t;
        UInt128 root = UInt128.Zero, rem = UInt128.Zero;
        for (int pos = bits - 2 + (bits & 1); pos >= 0; pos -= 2)
        {
            // Two radicand bits at pos+1, pos.
            ulong two = (RadicandBit(ma, t, pos + 1) << 1) | RadicandBit(ma, t, pos);
            rem = (rem << 2) | two;
            UInt128 trial = (root << 2) | UInt128.One;
            if (rem >= trial)
            {
                rem -= trial;
                root = (root << 1) | UInt128.One;
            }
            else root <<= 1;
        }
        int j = (k - 63 - t) / 2;
        int msb = 127 - (int)UInt128.LeadingZeroCount(root);
        UInt128 sig = root << (127 - msb);
        if (rem != UInt128.Zero) sig |= UInt128.One;
        return RoundToRegister(false, j + msb + Float80.Bias, sig, c.Precision, ref c);
    }

    private static ulong RadicandBit(ulong m, int t, int pos)
    {
        int b = pos - t;
        return b is >= 0 and < 64 ? (m >> b) & 1 : 0;
    }
}
