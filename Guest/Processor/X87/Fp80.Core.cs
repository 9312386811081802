using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor.X87;

/// <summary>
/// Software arithmetic on the double extended-precision format, bit-exact with the x87: every
/// result is computed exactly (or with a sticky bit) in 128 bits and rounded once. Nothing here
/// touches <c>double</c>, so results are the same on every host.
/// </summary>
internal static partial class Fp80
{
    /// <summary>A destination format: significand bits and the normal exponent range, in extended bias.</summary>
    internal readonly record struct Format(int Bits, int MinExp, int MaxExp);

    internal static readonly Format Extended = new(64, 1, 0x7FFE);
    internal static readonly Format Double = new(53, Float80.Bias - 1022, Float80.Bias + 1023);
    internal static readonly Format Single = new(24, Float80.Bias - 126, Float80.Bias + 127);

    /// <summary>The exponent adjustment of a result delivered with unmasked overflow or underflow.</summary>
    internal const int WrapBias = 24576;

    /// <summary>
    /// A finite nonzero value as exponent and normalized significand (bit 63 set); denormals and
    /// pseudo-denormals take the exponent 1 before normalizing, so the exponent may go below 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Unpack(Float80 x, out int exp, out ulong sig)
    {
        exp = x.Exponent == 0 ? 1 : x.Exponent;
        sig = x.Significand;
        int shift = System.Numerics.BitOperations.LeadingZeroCount(sig);
        sig <<= shift;
        exp -= shift;
    }

    /// <summary>
    /// Rounds sign * sig * 2^(exp - 16383 - 127) (sig nonzero; its low bit may be a sticky bit) to
    /// <paramref name="precision"/> significand bits in format <paramref name="f"/>, per the
    /// context's rounding control, raising PE, UE, OE and C1 as the x87 does. With
    /// <paramref name="wrap"/> (a register destination), an unmasked overflow or underflow delivers
    /// the result with its exponent moved by 24576 instead of infinity or a denormal.
    /// The result is in extended terms: for a single or double destination, a denormal of that
    /// format has exponent <c>f.MinExp</c> and a significand without its integer bit.
    /// </summary>
    internal static Float80 Round(bool sign, int exp, UInt128 sig, int precision, Format f, ref FpContext c, bool wrap)
    {
        int lz = (int)UInt128.LeadingZeroCount(sig);
        sig <<= lz;
        exp -= lz;

        // Rounded with an unbounded exponent: decides tininess (after rounding, as the x87 does).
        UInt128 rounded = RoundBits(sig, 128 - precision, sign, c.Rounding, out bool inexact, out bool up);
        int e = exp;
        if ((rounded >> precision) != UInt128.Zero)
        {
            rounded >>= 1;
            e++;
        }
        ulong kept = (ulong)rounded;
        if (e > f.MaxExp)
        {
            if (wrap && !c.Masked(FpContext.OE) && e - WrapBias <= f.MaxExp)
            {
                c.Flags |= FpContext.OE | (inexact ? FpContext.PE : 0) | (up ? FpContext.RoundedUp : 0);
                return new Float80(sign, e - WrapBias, kept << (64 - precision));
            }
            if (!wrap && !c.Masked(FpContext.OE))
            {
                // A memory destination: nothing is stored, and only OE is reported.
                c.Flags |= FpContext.OE;
                return default;
            }
            c.Flags |= FpContext.OE | FpContext.PE;
            if (wrap && !c.Masked(FpContext.OE))
            {
                // Unmasked, but too large even for the wrapped exponent (FSCALE): infinity.
                c.Flags |= FpContext.RoundedUp;
                return new Float80(sign, 0x7FFF, Float80.IntegerBit);
            }
            bool toInfinity = c.Rounding switch { 0 => true, 1 => sign, 2 => !sign, _ => false };
            if (toInfinity)
            {
                c.Flags |= FpContext.RoundedUp;
                return new Float80(sign, 0x7FFF, Float80.IntegerBit);
            }
            return new Float80(sign, f.MaxExp, ulong.MaxValue << (64 - precision));
        }
        if (e >= f.MinExp)
        {
            if (inexact) c.Flags |= FpContext.PE | (up ? FpContext.RoundedUp : 0);
            return new Float80(sign, e, kept << (64 - precision));
        }

        // Tiny.
        if (wrap && !c.Masked(FpContext.UE) && e + WrapBias >= f.MinExp)
        {
            c.Flags |= FpContext.UE | (inexact ? FpContext.PE : 0) | (up ? FpContext.RoundedUp : 0);
            return new Float80(sign, e + WrapBias, kept << (64 - precision));
        }
        if (!wrap && !c.Masked(FpContext.UE))
        {
            // A memory destination: nothing is stored, and only UE is reported.
            c.Flags |= FpContext.UE;
            return default;
        }
        // Denormalize: the last kept bit is the format's at its minimum exponent, or coarser when
        // the precision control asks for fewer bits.
        int shift = f.MinExp - exp;
        // Denormalized, the 64-bit (or format) significand keeps as many bits from its top as the
        // precision allows: the last kept bit is fixed by the field, not by the leading one.
        int drop = 128 - Math.Min(precision, f.Bits) + shift;
        ulong d = (ulong)RoundBits(sig, drop, sign, c.Rounding, out bool inexactD, out bool upD);
        // The value is d * 2^(drop + exp - 16383 - 127); as a 64-bit significand at f.MinExp:
        int left = drop - 64 - shift;
        ulong result = left >= 64 ? 0 : d << left;
        // Too tiny even for the wrapped exponent (FSCALE): the denormalized result, UE reported as unmasked.
        if (!c.Masked(FpContext.UE)) c.Flags |= FpContext.UE;
        if (inexactD)
        {
            c.Flags |= FpContext.PE | (upD ? FpContext.RoundedUp : 0);
            c.Flags |= FpContext.UE;
        }
        bool normal = (result & Float80.IntegerBit) != 0;
        int outExp = f.Bits == 64 ? (normal ? 1 : 0) : f.MinExp;
        return new Float80(sign, outExp, result);
    }

    /// <summary>
    /// sig / 2^drop rounded to an integer per the rounding control (sign: of the value);
    /// <paramref name="up"/> tells whether the magnitude was increased. drop may exceed 128.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static UInt128 RoundBits(UInt128 sig, int drop, bool sign, int rounding, out bool inexact, out bool up)
    {
        if (drop == 64)
        {
            // The common case (64-bit precision, a normal result): all in 64-bit halves.
            ulong k = (ulong)(sig >> 64), r = (ulong)sig;
            inexact = r != 0;
            bool incr = inexact && rounding switch
            {
                0 => r > 1UL << 63 || (r == 1UL << 63 && (k & 1) != 0),
                1 => sign,
                2 => !sign,
                _ => false,
            };
            up = incr;
            return incr ? (UInt128)k + 1 : k;
        }
        UInt128 kept, rest, half;
        if (drop <= 0)
        {
            inexact = up = false;
            return sig << -drop;
        }
        if (drop >= 129)
        {
            // Everything is below half of the last kept bit.
            inexact = sig != 0;
            up = inexact && rounding switch { 1 => sign, 2 => !sign, _ => false };
            return up ? UInt128.One : UInt128.Zero;
        }
        if (drop == 128)
        {
            kept = UInt128.Zero;
            rest = sig;
            half = UInt128.One << 127;
        }
        else
        {
            kept = sig >> drop;
            rest = sig & ((UInt128.One << drop) - 1);
            half = UInt128.One << (drop - 1);
        }
        inexact = rest != 0;
        bool inc = false;
        if (inexact)
        {
            inc = rounding switch
            {
                0 => rest > half || (rest == half && ((ulong)kept & 1) != 0),
                1 => sign,
                2 => !sign,
                _ => false,
            };
        }
        up = inc;
        return kept + (inc ? UInt128.One : UInt128.Zero);
    }

    /// <summary>Rounds to a register with the extended exponent range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Float80 RoundToRegister(bool sign, int exp, UInt128 sig, int precision, ref FpContext c)
        => Round(sign, exp, sig, precision, Extended, ref c, wrap: true);

    /// <summary>
    /// The NaN an operation on two operands returns when at least one is a NaN (SDM vol. 1, table
    /// 4-7): an SNaN raises IE and is quieted; of two NaNs a QNaN wins over an SNaN, and of two of
    /// the same kind the one with the larger significand.
    /// </summary>
    internal static Float80 PropagateNaN(Float80 a, Float80 b, ref FpContext c)
    {
        if (a.IsSignalingNaN || b.IsSignalingNaN) c.Flags |= FpContext.IE;
        if (a.IsNaN && b.IsNaN)
        {
            // A QNaN wins over an SNaN; of two of a kind, the larger significand.
            bool qa = a.IsQuietNaN, qb = b.IsQuietNaN;
            if (qa != qb) return qa ? a : b.Quieted();
            if (a.Significand != b.Significand) return a.Significand > b.Significand ? a.Quieted() : b.Quieted();
            return (a.Negative ? b : a).Quieted();
        }
        return (a.IsNaN ? a : b).Quieted();
    }

    /// <summary>One operand: an SNaN raises IE; the result is the NaN, quiet.</summary>
    internal static Float80 PropagateNaN(Float80 a, ref FpContext c)
    {
        if (a.IsSignalingNaN) c.Flags |= FpContext.IE;
        return a.Quieted();
    }

    /// <summary>
    /// The checks every two-operand arithmetic instruction starts with: unsupported encodings and
    /// SNaNs (IE), NaN propagation, denormal operands (DE). True when <paramref name="r"/> is
    /// already the answer (or the operation stops on an unmasked exception).
    /// </summary>
    internal static bool Special2(Float80 a, Float80 b, ref FpContext c, out Float80 r)
    {
        if (a.IsUnsupported || b.IsUnsupported)
        {
            c.Flags |= FpContext.IE;
            r = Float80.Indefinite;
            return true;
        }
        if (a.IsNaN || b.IsNaN)
        {
            r = PropagateNaN(a, b, ref c);
            return true;
        }
        if (a.IsDenormal || b.IsDenormal || c.SourceDenormal)
        {
            c.Flags |= FpContext.DE;
            if (c.Stopped)
            {
                r = default;
                return true;
            }
        }
        r = default;
        return false;
    }

    internal static bool Special1(Float80 a, ref FpContext c, out Float80 r)
    {
        if (a.IsUnsupported)
        {
            c.Flags |= FpContext.IE;
            r = Float80.Indefinite;
            return true;
        }
        if (a.IsNaN)
        {
            r = PropagateNaN(a, ref c);
            return true;
        }
        if (a.IsDenormal)
        {
            c.Flags |= FpContext.DE;
            if (c.Stopped)
            {
                r = default;
                return true;
            }
        }
        r = default;
        return false;
    }

    internal static Float80 Invalid(ref FpContext c)
    {
        c.Flags |= FpContext.IE;
        return Float80.Indefinite;
    }
}
