namespace VmFt.Guest.Processor.X87;

// Conversions between the register format and the memory formats: single, double, the integers
// (16, 32, 64-bit) and packed BCD (18 digits); and rounding to an integral value (FRNDINT).
internal static partial class Fp80
{
    internal const uint SingleIndefinite = 0xFFC0_0000;
    internal const ulong DoubleIndefinite = 0xFFF8_0000_0000_0000;

    /// <summary>
    /// FLD m32: exact; a denormal raises DE, an SNaN raises IE and loads quiet. As the source of
    /// an arithmetic or compare instruction (<paramref name="asOperand"/>) a denormal only marks
    /// the context (DE comes after the NaN checks of both operands) and a NaN stays as it is (the
    /// operation picks between two NaNs by their kind).
    /// </summary>
    internal static Float80 FromSingle(uint bits, ref FpContext c, bool asOperand = false)
    {
        bool sign = (bits >> 31) != 0;
        int exp = (int)((bits >> 23) & 0xFF);
        ulong frac = bits & 0x7F_FFFF;
        if (exp == 0xFF)
        {
            if (frac == 0) return new Float80(sign, 0x7FFF, Float80.IntegerBit);
            var nan = new Float80(sign, 0x7FFF, Float80.IntegerBit | (frac << 40));
            // An operand keeps its kind: the operation chooses between two NaNs by it.
            return asOperand ? nan : PropagateNaN(nan, ref c);
        }
        if (exp == 0)
        {
            if (frac == 0) return new Float80(sign, 0, 0);
            if (asOperand) c.SourceDenormal = true;
            else c.Flags |= FpContext.DE;
            int lz = System.Numerics.BitOperations.LeadingZeroCount(frac << 40);
            return new Float80(sign, Float80.Bias - 126 - lz, (frac << 40) << lz);
        }
        return new Float80(sign, exp - 127 + Float80.Bias, Float80.IntegerBit | (frac << 40));
    }

    internal static Float80 FromDouble(ulong bits, ref FpContext c, bool asOperand = false)
    {
        bool sign = (bits >> 63) != 0;
        int exp = (int)((bits >> 52) & 0x7FF);
        ulong frac = bits & 0x000F_FFFF_FFFF_FFFF;
        if (exp == 0x7FF)
        {
            if (frac == 0) return new Float80(sign, 0x7FFF, Float80.IntegerBit);
            var nan = new Float80(sign, 0x7FFF, Float80.IntegerBit | (frac << 11));
            return asOperand ? nan : PropagateNaN(nan, ref c);
        }
        if (exp == 0)
        {
            if (frac == 0) return new Float80(sign, 0, 0);
            if (asOperand) c.SourceDenormal = true;
            else c.Flags |= FpContext.DE;
            int lz = System.Numerics.BitOperations.LeadingZeroCount(frac << 11);
            return new Float80(sign, Float80.Bias - 1022 - lz, (frac << 11) << lz);
        }
        return new Float80(sign, exp - 1023 + Float80.Bias, Float80.IntegerBit | (frac << 11));
    }

    /// <summary>FILD: exact.</summary>
    internal static Float80 FromInteger(long value)
    {
        if (value == 0) return Float80.Zero;
        bool sign = value < 0;
        ulong m = sign ? (ulong)-value : (ulong)value;
        int lz = System.Numerics.BitOperations.LeadingZeroCount(m);
        return new Float80(sign, Float80.Bias + 63 - lz, m << lz);
    }

    /// <summary>
    /// The value rounded into a single or double (FST m32/m64): the caller stores the bits unless
    /// an unmasked exception stops it. Denormal sources raise DE, SNaNs IE, unsupported encodings
    /// IE with the indefinite.
    /// </summary>
    internal static ulong ToMemoryFloat(Float80 a, Format f, ref FpContext c)
    {
        bool isSingle = f.Bits == 24;
        int expBits = isSingle ? 8 : 11, fracBits = f.Bits - 1;
        ulong signBit = a.Negative ? 1UL << (expBits + fracBits) : 0;
        ulong expMax = (1UL << expBits) - 1;
        if (a.IsUnsupported)
        {
            c.Flags |= FpContext.IE;
            return isSingle ? SingleIndefinite : DoubleIndefinite;
        }
        if (a.IsNaN)
        {
            if (a.IsSignalingNaN) c.Flags |= FpContext.IE;
            ulong frac = ((a.Significand | Float80.QuietBit) << 1) >> (64 - fracBits);
            return signBit | (expMax << fracBits) | frac;
        }
        if (a.IsInfinity) return signBit | (expMax << fracBits);
        if (a.IsZero) return signBit;
        // A denormal register raises no DE here (as the host x87 does): it simply underflows.
        Unpack(a, out int e, out ulong m);
        var r = Round(a.Negative, e, (UInt128)m << 64, f.Bits, f, ref c, wrap: false);
        return PackMemoryFloat(r, f, signBit, expBits, fracBits);
    }

    private static ulong PackMemoryFloat(Float80 r, Format f, ulong signBit, int expBits, int fracBits)
    {
        ulong expMax = (1UL << expBits) - 1;
        if (r.Exponent == 0x7FFF) return signBit | (expMax << fracBits);
        if (r.Significand == 0) return signBit;
        ulong frac = (r.Significand << 1) >> (64 - fracBits);
        if ((r.Significand & Float80.IntegerBit) == 0)
            return signBit | (r.Significand >> (64 - f.Bits)); // a denormal of the format: exponent field 0
        ulong biased = (ulong)(r.Exponent - f.MinExp + 1);
        return signBit | (biased << fracBits) | frac;
    }

    /// <summary>
    /// FIST/FISTP: the value rounded to an integer of <paramref name="bits"/> bits per the rounding
    /// control. Out of range, NaN, infinity or unsupported: IE and the integer indefinite (the most
    /// negative value). Inexact: PE, and C1 when the magnitude was rounded up.
    /// </summary>
    internal static long ToInteger(Float80 a, int bits, ref FpContext c)
    {
        long indefinite = long.MinValue >> (64 - bits);
        if (a.IsUnsupported || a.IsNaN || a.IsInfinity)
        {
            c.Flags |= FpContext.IE;
            return indefinite;
        }
        if (a.IsZero) return 0;
        // A denormal raises no DE (as the host x87 does): it rounds to 0 or +-1 with PE.
        if (!TryRoundToInteger(a, c.Rounding, out ulong mag, out bool inexact, out bool up))
        {
            c.Flags |= FpContext.IE;
            return indefinite;
        }
        ulong limit = a.Negative ? 1UL << (bits - 1) : (1UL << (bits - 1)) - 1;
        if (mag > limit)
        {
            c.Flags |= FpContext.IE;
            return indefinite;
        }
        if (inexact) c.Flags |= FpContext.PE | (up ? FpContext.RoundedUp : 0);
        return a.Negative ? -(long)mag : (long)mag;
    }

    /// <summary>|a| rounded to an integer; false when it does not fit 64 bits.</summary>
    internal static bool TryRoundToInteger(Float80 a, int rounding, out ulong magnitude, out bool inexact, out bool up)
    {
        Unpack(a, out int e, out ulong m);
        int unbiased = e - Float80.Bias; // value = m * 2^(unbiased - 63)
        if (unbiased >= 64)
        {
            magnitude = 0;
            inexact = up = false;
            return false;
        }
        if (unbiased >= 63)
        {
            magnitude = m;
            inexact = up = false;
            return true;
        }
        int drop = 63 - unbiased; // >= 1
        UInt128 r = RoundBits((UInt128)m, drop, a.Negative, rounding, out inexact, out up);
        magnitude = (ulong)r;
        return (r >> 64) == UInt128.Zero;
    }

    /// <summary>FRNDINT: rounds to an integral value per the rounding control (not the precision control).</summary>
    internal static Float80 RoundToIntegral(Float80 a, ref FpContext c)
    {
        if (Special1(a, ref c, out var r)) return r;
        if (a.IsZero || a.IsInfinity) return a;
        Unpack(a, out int e, out ulong m);
        int unbiased = e - Float80.Bias;
        if (unbiased >= 63) return a;
        int drop = 63 - unbiased;
        ulong q = (ulong)RoundBits((UInt128)m, drop, a.Negative, c.Rounding, out bool inexact, out bool up);
        if (inexact) c.Flags |= FpContext.PE | (up ? FpContext.RoundedUp : 0);
        if (q == 0) return new Float80(a.Negative, 0, 0);
        int lz = System.Numerics.BitOperations.LeadingZeroCount(q);
        return new Float80(a.Negative, Float80.Bias + 63 - lz, q << lz);
    }

    /// <summary>FBLD: 18 BCD digits and a sign byte. Digits above 9 give an undefined result on real hardware; here they weigh their binary value.</summary>
    internal static Float80 FromBcd(ReadOnlySpan<byte> bcd)
    {
        ulong v = 0;
        for (int i = 8; i >= 0; i--)
        {
            v = v * 10 + (uint)(bcd[i] >> 4);
            v = v * 10 + (uint)(bcd[i] & 0xF);
        }
        bool sign = (bcd[9] & 0x80) != 0;
        if (v == 0) return new Float80(sign, 0, 0);
        var f = FromInteger((long)v);
        return f.WithSign(sign);
    }

    /// <summary>FBSTP: rounds per the rounding control; beyond 18 digits, NaN, infinity, unsupported: IE and the BCD indefinite.</summary>
    internal static bool ToBcd(Float80 a, Span<byte> bcd, ref FpContext c)
    {
        ulong mag = 0;
        bool ok = true;
        if (a.IsUnsupported || a.IsNaN || a.IsInfinity) ok = false;
        else if (!a.IsZero)
        {
            if (!TryRoundToInteger(a, c.Rounding, out mag, out bool inexact, out bool up) || mag > 999_999_999_999_999_999UL) ok = false;
            else if (inexact) c.Flags |= FpContext.PE | (up ? FpContext.RoundedUp : 0);
        }
        if (!ok)
        {
            c.Flags |= FpContext.IE;
            bcd.Clear();
            bcd[7] = 0xC0;
            bcd[8] = 0xFF;
            bcd[9] = 0xFF;
            return true;
        }
        for (int i = 0; i < 9; i++)
        {
            uint lo = (uint)(mag % 10);
            mag /= 10;
            uint hi = (uint)(mag % 10);
            mag /= 10;
            bcd[i] = (byte)((hi << 4) | lo);
        }
        bcd[9] = (byte)(a.Negative ? 0x80 : 0);
        return true;
    }
}
