namespace VmFt.Guest.Processor.X87;

/// <summary>
/// A binary floating-point number with a 128-bit significand, for the transcendental functions:
/// value = (-1)^Negative * Mant * 2^(Exp - 127), Mant normalized (bit 127 set) or zero. Every
/// operation truncates (errors of a few units in the 128th bit), far below the 64-bit results.
/// </summary>
internal readonly struct Wide
{
    public readonly UInt128 Mant;
    public readonly int Exp;
    public readonly bool Negative;

    public Wide(bool negative, int exp, UInt128 mant)
    {
        if (mant == UInt128.Zero)
        {
            Mant = UInt128.Zero;
            Exp = 0;
            Negative = negative;
            return;
        }
        int lz = (int)UInt128.LeadingZeroCount(mant);
        Mant = mant << lz;
        Exp = exp - lz;
        Negative = negative;
    }

    public bool IsZero => Mant == UInt128.Zero;

    public static readonly Wide Zero = default;
    public static readonly Wide One = new(false, 0, UInt128.One << 127);
    public static readonly Wide Pi = new(false, 1, new UInt128(0xC90F_DAA2_2168_C234, 0xC4C6_628B_80DC_1CD1));
    public static readonly Wide Ln2 = new(false, -1, new UInt128(0xB172_17F7_D1CF_79AB, 0xC9E3_B398_03F2_F6AF));
    public static readonly Wide InvLn2 = new(false, 0, new UInt128(0xB8AA_3B29_5C17_F0BB, 0xBE87_FED0_691D_3E88));

    /// <summary>An exact register value (finite).</summary>
    public static Wide From(Float80 x)
    {
        if (x.IsZero) return new Wide(x.Negative, 0, UInt128.Zero);
        Fp80.Unpack(x, out int e, out ulong m);
        return new Wide(x.Negative, e - Float80.Bias, (UInt128)m << 64);
    }

    public static Wide FromInt(long v) => new(v < 0, 127, (UInt128)(ulong)(v < 0 ? -v : v));

    public Wide Neg() => new(!Negative, Exp, Mant);
    public Wide Abs() => new(false, Exp, Mant);
    public Wide Scale(int n) => IsZero ? this : new Wide(Negative, Exp + n, Mant);

    public static Wide operator *(Wide a, Wide b)
    {
        if (a.IsZero || b.IsZero) return new Wide(a.Negative ^ b.Negative, 0, UInt128.Zero);
        UInt128 hi = MulHigh(a.Mant, b.Mant);
        // Mant_a * Mant_b = hi * 2^128 (+ lower bits); value = hi * 2^(ea + eb - 127).
        return new Wide(a.Negative ^ b.Negative, a.Exp + b.Exp + 1, hi);
    }

    private static UInt128 MulHigh(UInt128 a, UInt128 b)
    {
        ulong a1 = (ulong)(a >> 64), a0 = (ulong)a, b1 = (ulong)(b >> 64), b0 = (ulong)b;
        ulong p11h = Math.BigMul(a1, b1, out ulong p11l);
        ulong p10h = Math.BigMul(a1, b0, out ulong p10l);
        ulong p01h = Math.BigMul(a0, b1, out ulong p01l);
        ulong p00h = Math.BigMul(a0, b0, out _);
        UInt128 mid = (UInt128)p10l + p01l + p00h;
        UInt128 high = ((UInt128)p11h << 64) + p11l + p10h + p01h + (mid >> 64);
        return high;
    }

    public static Wide operator +(Wide a, Wide b)
    {
        if (a.IsZero) return b;
        if (b.IsZero) return a;
        if (b.Exp > a.Exp || (b.Exp == a.Exp && b.Mant > a.Mant)) (a, b) = (b, a);
        int d = a.Exp - b.Exp;
        // One guard bit of headroom: work with the significands shifted right by one.
        UInt128 x = a.Mant >> 1;
        UInt128 y = d >= 127 ? UInt128.Zero : (b.Mant >> 1) >> d;
        UInt128 r = a.Negative == b.Negative ? x + y : x - y;
        return new Wide(a.Negative, a.Exp + 1, r);
    }

    public static Wide operator -(Wide a, Wide b) => a + b.Neg();

    public static Wide operator /(Wide a, Wide b)
    {
        if (a.IsZero) return a;
        // Restoring division of the significands: 128 quotient bits, the first of weight 2^0.
        UInt128 n = a.Mant, dv = b.Mant, q = UInt128.Zero;
        bool high = false; // bit 128 of the partial remainder
        for (int i = 0; i < 128; i++)
        {
            bool bit = high || n >= dv;
            if (bit) n -= dv;
            q = (q << 1) | (bit ? UInt128.One : UInt128.Zero);
            high = (n >> 127) != UInt128.Zero;
            n <<= 1;
        }
        return new Wide(a.Negative ^ b.Negative, a.Exp - b.Exp, q);
    }

    /// <summary>a / k for a small positive k: one 128-by-32-bit division, then the remainder's bits below.</summary>
    public static Wide DivInt(Wide a, int k)
    {
        if (a.IsZero) return a;
        uint d = (uint)k;
        UInt128 q = a.Mant / d;
        UInt128 r = a.Mant - q * d;
        int s = (int)UInt128.LeadingZeroCount(q); // at most 32: k < 2^32
        q = (q << s) | ((r << s) / d);
        return new Wide(a.Negative, a.Exp - s, q);
    }

    /// <summary>The square root (a >= 0): a 64-bit first guess from the register arithmetic, then one Newton step.</summary>
    public static Wide Sqrt(Wide a)
    {
        if (a.IsZero) return a;
        var c = new FpContext(0x037F);
        int e = a.Exp;
        var guess = Fp80.Sqrt(new Float80(false, Float80.Bias + (e & 1), (ulong)(a.Mant >> 64)), ref c);
        var x = From(guess).Scale(e >> 1);
        return (x + a / x).Scale(-1);
    }

    /// <summary>Rounded to a register per the context (the result is inexact).</summary>
    public Float80 ToFloat80(ref FpContext c)
    {
        if (IsZero) return new Float80(Negative, 0, 0);
        return Fp80.Round(Negative, Exp + Float80.Bias, Mant | UInt128.One, 64, Fp80.Extended, ref c, wrap: true);
    }
}
