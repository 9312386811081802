namespace VmFt.Guest.Processor.X87;

// Comparison, classification and the exponent instructions: FCOM/FUCOM/FCOMI/FTST, FXAM,
// FPREM/FPREM1, FSCALE, FXTRACT.
internal static partial class Fp80
{
    /// <summary>How two values compare: the x87 encodes it in C3, C2, C0 (or ZF, PF, CF).</summary>
    internal enum Relation { Greater, Less, Equal, Unordered }

    /// <summary>
    /// Compares a with b. <paramref name="quiet"/> (FUCOM family): only SNaNs raise IE; otherwise
    /// (FCOM family) every NaN does. Unsupported encodings always raise IE.
    /// </summary>
    internal static Relation Compare(Float80 a, Float80 b, bool quiet, ref FpContext c)
    {
        if (a.IsUnsupported || b.IsUnsupported)
        {
            c.Flags |= FpContext.IE;
            return Relation.Unordered;
        }
        if (a.IsNaN || b.IsNaN)
        {
            if (!quiet || a.IsSignalingNaN || b.IsSignalingNaN) c.Flags |= FpContext.IE;
            return Relation.Unordered;
        }
        if (a.IsDenormal || b.IsDenormal || c.SourceDenormal) c.Flags |= FpContext.DE; // the relation is still reported
        int s = CompareValues(a, b);
        return s == 0 ? Relation.Equal : s < 0 ? Relation.Less : Relation.Greater;
    }

    /// <summary>Total order of two non-NaN supported values (zeros of either sign are equal).</summary>
    internal static int CompareValues(Float80 a, Float80 b)
    {
        bool za = a.IsZero, zb = b.IsZero;
        if (za && zb) return 0;
        if (za) return b.Negative ? 1 : -1;
        if (zb) return a.Negative ? -1 : 1;
        if (a.Negative != b.Negative) return a.Negative ? -1 : 1;
        int mag = CompareMagnitudes(a, b);
        return a.Negative ? -mag : mag;
    }

    private static int CompareMagnitudes(Float80 a, Float80 b)
    {
        if (a.IsInfinity) return b.IsInfinity ? 0 : 1;
        if (b.IsInfinity) return -1;
        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);
        if (ea != eb) return ea < eb ? -1 : 1;
        return ma.CompareTo(mb);
    }

    /// <summary>FXAM's C3, C2, C0 (as bits 14, 10, 8) and C1 = sign.</summary>
    internal static int Examine(Float80 a, bool empty)
    {
        const int C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;
        int sign = a.Negative ? C1 : 0;
        if (empty) return C3 | C0 | sign;
        if (a.IsUnsupported) return sign;                  // unsupported: 000
        if (a.IsNaN) return C0 | sign;                     // NaN: 001
        if (a.IsInfinity) return C2 | C0 | sign;           // infinity: 011
        if (a.IsZero) return C3 | sign;                    // zero: 100
        if (a.IsDenormal) return C3 | C2 | sign;           // denormal: 110
        return C2 | sign;                                  // normal: 010
    }

    /// <summary>
    /// FPREM (truncating quotient) and FPREM1 (IEEE: quotient rounded to nearest). Returns the
    /// new ST(0); <paramref name="quotientBits"/> holds the low three quotient bits and
    /// <paramref name="incomplete"/> tells that the exponent difference was too large for one step
    /// (C2 = 1), in which case the result is a partial remainder.
    /// </summary>
    internal static Float80 Remainder(Float80 a, Float80 b, bool ieee, ref FpContext c, out int quotientBits, out bool incomplete)
    {
        quotientBits = 0;
        incomplete = false;
        if (Special2(a, b, ref c, out var r)) return r;
        if (a.IsInfinity || b.IsZero) return Invalid(ref c);
        if (b.IsInfinity || a.IsZero) return a.IsDenormal ? Normalize(a) : a;
        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);
        int d = ea - eb;
        if (d < 0)
        {
            if (!ieee || d < -1) return Normalize(a);
            // FPREM1 with |a| in [|b|/2, |b|): the quotient rounds to 1 when |a| > |b|/2.
        }
        if (d >= 64)
        {
            // Partial remainder: reduce the exponent difference by d - N, N = 32 .. 63 (the P6 uses 32 + (d mod 32)).
            int n = 32 + (d & 31);
            int shift = d - n; // quotient of a / (b * 2^shift), truncated, has at most n + 1 bits
            UInt128 ra = (UInt128)ma << n;
            UInt128 q = ra / mb;
            UInt128 rem = ra - q * mb;
            incomplete = true;
            quotientBits = (int)((ulong)q & 7);
            if (rem == UInt128.Zero) return new Float80(a.Negative, 0, 0);
            // rem * 2^(eb + shift - 16383 - 63).
            return PackRemainder(a.Negative, eb + shift, rem, ref c);
        }
        // Full remainder: q = a / b as an integer, exact.
        UInt128 num, qi, rm;
        if (d >= 0)
        {
            num = (UInt128)ma << d;
            qi = num / mb;
            rm = num - qi * mb; // remainder in units of 2^(eb - 16383 - 63)
        }
        else
        {
            num = ma;           // d == -1: a / b in (0.5, 1)
            qi = 0;
            rm = num;           // units of 2^(ea - 16383 - 63) = 2^(eb - 1 - ...)
        }
        int remExp = d >= 0 ? eb : ea;
        bool negative = a.Negative;
        if (ieee)
        {
            // Round the quotient to nearest, ties to even: compare 2 * rm with mb in the same units.
            UInt128 twice = d >= 0 ? rm << 1 : rm;
            if (twice > mb || (twice == mb && ((ulong)qi & 1) != 0))
            {
                qi += 1;
                // r = r - b: in units of b's lsb (d >= 0) or of a's (d == -1, where b = 2 * its units).
                UInt128 bUnits = d >= 0 ? (UInt128)mb : (UInt128)mb << 1;
                rm = bUnits - rm;
                negative = !negative;
            }
        }
        quotientBits = (int)((ulong)qi & 7);
        if (rm == UInt128.Zero) return new Float80(a.Negative, 0, 0);
        return PackRemainder(negative, remExp, rm, ref c);
    }

    /// <summary>
    /// An exact remainder m * 2^(e - 16383 - 63): below the normal range it is tiny, which an
    /// unmasked UE reports with the wrapped exponent (a masked one has nothing to report: exact).
    /// </summary>
    private static Float80 PackRemainder(bool sign, int e, UInt128 m, ref FpContext c)
    {
        int top = 127 - (int)UInt128.LeadingZeroCount(m);
        if (e + top - 63 >= 1) return PackExact(sign, e, m);
        return Round(sign, e + top - 63, m << (127 - top), 64, Extended, ref c, wrap: true);
    }

    /// <summary>An exact value m * 2^(e - 16383 - 63) as a register (m fits 64 bits after the operation, denormal if needed).</summary>
    private static Float80 PackExact(bool sign, int e, UInt128 m)
    {
        int lz = (int)UInt128.LeadingZeroCount(m);
        int top = 127 - lz;            // bit index of the leading one
        int exp = e + top - 63;
        ulong sig = top >= 63 ? (ulong)(m >> (top - 63)) : (ulong)m << (63 - top);
        if (exp >= 1) return new Float80(sign, exp, sig);
        // Below the normal range: a denormal (exact: a remainder's bits sit above b's lsb).
        int s = 1 - exp;
        return new Float80(sign, 0, s >= 64 ? 0 : sig >> s);
    }

    /// <summary>A denormal operand that passes through unchanged in value, as the x87 stores it back (normalized if it can be).</summary>
    private static Float80 Normalize(Float80 a)
    {
        if (!a.IsDenormal) return a;
        Unpack(a, out int e, out ulong m);
        return PackExact(a.Negative, e, m);
    }

    /// <summary>FSCALE: a * 2^trunc(b).</summary>
    internal static Float80 Scale(Float80 a, Float80 b, ref FpContext c)
    {
        if (Special2(a, b, ref c, out var r)) return r;
        if (b.IsInfinity)
        {
            if (!b.Negative) return a.IsZero ? Invalid(ref c) : new Float80(a.Negative, 0x7FFF, Float80.IntegerBit);
            return a.IsInfinity ? Invalid(ref c) : new Float80(a.Negative, 0, 0);
        }
        if (a.IsZero || a.IsInfinity) return a;
        // trunc(b), clamped: beyond +-2^16 every result over- or underflows anyway.
        int n;
        if (b.IsZero) n = 0;
        else
        {
            Unpack(b, out int eb, out ulong mb);
            int ub = eb - Float80.Bias;
            long mag = ub < 0 ? 0 : ub >= 20 ? 1 << 20 : (long)(mb >> (63 - ub));
            n = (int)(b.Negative ? -mag : mag);
        }
        Unpack(a, out int ea, out ulong ma);
        return Round(a.Negative, ea + n, (UInt128)ma << 64, 64, Extended, ref c, wrap: true);
    }

    /// <summary>FXTRACT: the unbiased exponent (as a value) and the significand with exponent 0.</summary>
    internal static (Float80 Exponent, Float80 Significand) Extract(Float80 a, ref FpContext c)
    {
        if (Special1(a, ref c, out var r)) return (r, r);
        if (a.IsZero)
        {
            c.Flags |= FpContext.ZE;
            return (Float80.NegativeInfinity, a);
        }
        if (a.IsInfinity) return (Float80.PositiveInfinity, a);
        Unpack(a, out int e, out ulong m);
        return (FromInteger(e - Float80.Bias), new Float80(a.Negative, Float80.Bias, m));
    }
}
