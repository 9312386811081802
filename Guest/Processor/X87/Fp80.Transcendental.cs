namespace VmFt.Guest.Processor.X87;

// The transcendental instructions, computed in 128-bit arithmetic (Wide) and rounded once.
// FSIN, FCOS, FSINCOS and FPTAN reduce their argument as the hardware does: exactly, modulo
// pi/2 where pi is the 66-bit approximation 0xC90FDAA22168C234C >> 64 (SDM vol. 1, "Transcendental
// instruction accuracy"); that is why sin(FLDPI) is -2^-64 here, as on silicon, and not the true
// sin(0x4000C90FDAA22168C235) = -5.0165e-20.
internal static partial class Fp80
{
    /// <summary>The 66-bit pi as an integer: pi66 = ReductionPi * 2^-64, pi66 / 2 = ReductionPi * 2^-65.</summary>
    private static readonly UInt128 ReductionPi = ((UInt128)0xC90F_DAA2_2168_C234UL << 2) | 3;

    /// <summary>True when |x| >= 2^63: the trigonometric instructions leave the operand and set C2.</summary>
    internal static bool OutOfTrigRange(Float80 x) => x.Exponent >= Float80.Bias + 63 && !x.IsNaN && !x.IsInfinity && !x.IsUnsupported;

    /// <summary>|x| = k * pi66/2 + r, |r| &lt;= pi66/4, exactly; returns r and k mod 4.</summary>
    private static Wide Reduce(Float80 x, out int quadrant)
    {
        Unpack(x, out int e, out ulong m);
        int s = e - Float80.Bias - 63 + 65; // |x| = m * 2^(s - 65)
        quadrant = 0;
        if (s < 0) return new Wide(false, s - 65 + 127, m);
        UInt128 n = (UInt128)m << s;
        UInt128 q = n / ReductionPi;
        UInt128 rem = n - q * ReductionPi;
        bool negative = false;
        if ((rem << 1) > ReductionPi)
        {
            q += 1;
            rem = ReductionPi - rem;
            negative = true;
        }
        quadrant = (int)((ulong)q & 3);
        return new Wide(negative, 127 - 65, rem);
    }

    private static Wide SinSeries(Wide r)
    {
        if (r.IsZero) return r;
        Wide r2 = r * r, term = r, sum = r;
        for (int k = 1; k < 40; k++)
        {
            term = Wide.DivInt(term * r2, (2 * k) * (2 * k + 1));
            if (term.IsZero || term.Exp < sum.Exp - 132) break;
            sum = (k & 1) != 0 ? sum - term : sum + term;
        }
        return sum;
    }

    private static Wide CosSeries(Wide r)
    {
        Wide r2 = r * r, term = Wide.One, sum = Wide.One;
        if (r.IsZero) return sum;
        for (int k = 1; k < 40; k++)
        {
            term = Wide.DivInt(term * r2, (2 * k - 1) * (2 * k));
            if (term.IsZero || term.Exp < sum.Exp - 132) break;
            sum = (k & 1) != 0 ? sum - term : sum + term;
        }
        return sum;
    }

    /// <summary>sin and cos of a finite x with |x| &lt; 2^63.</summary>
    private static (Wide Sin, Wide Cos) SinCos(Float80 x)
    {
        var r = Reduce(x, out int k);
        Wide s = SinSeries(r), c = CosSeries(r);
        (Wide sin, Wide cos) = k switch
        {
            0 => (s, c),
            1 => (c, s.Neg()),
            2 => (s.Neg(), c.Neg()),
            _ => (c.Neg(), s),
        };
        if (x.Negative) sin = sin.Neg();
        return (sin, cos);
    }

    /// <summary>The operand checks of the one-operand transcendentals: true when <paramref name="r"/> is the answer.</summary>
    private static bool SpecialTrig(Float80 a, ref FpContext c, out Float80 r)
    {
        if (Special1(a, ref c, out r)) return true;
        if (a.IsInfinity)
        {
            r = Invalid(ref c);
            return true;
        }
        return false;
    }

    internal static Float80 Sin(Float80 a, ref FpContext c)
    {
        if (SpecialTrig(a, ref c, out var r)) return r;
        if (a.IsZero) return a;
        return SinCos(a).Sin.ToFloat80(ref c);
    }

    internal static Float80 Cos(Float80 a, ref FpContext c)
    {
        if (SpecialTrig(a, ref c, out var r)) return r;
        if (a.IsZero) return Float80.One;
        return SinCos(a).Cos.ToFloat80(ref c);
    }

    /// <summary>FSINCOS: (sin, cos), both rounded with the same flags.</summary>
    internal static (Float80 Sin, Float80 Cos) SinCosPair(Float80 a, ref FpContext c)
    {
        if (SpecialTrig(a, ref c, out var r)) return (r, r);
        if (a.IsZero) return (a, Float80.One);
        var (s, co) = SinCos(a);
        var cs = co.ToFloat80(ref c);
        return (s.ToFloat80(ref c), cs);
    }

    internal static Float80 Tan(Float80 a, ref FpContext c)
    {
        if (SpecialTrig(a, ref c, out var r)) return r;
        if (a.IsZero) return a;
        var (s, co) = SinCos(a);
        return (s / co).ToFloat80(ref c);
    }

    /// <summary>atan(t) for 0 &lt;= t &lt;= 1: three argument halvings, then the series.</summary>
    private static Wide AtanSmall(Wide t)
    {
        if (t.IsZero) return t;
        for (int i = 0; i < 3; i++) t = t / (Wide.One + Wide.Sqrt(Wide.One + t * t));
        Wide t2 = t * t, power = t, sum = t;
        for (int k = 1; k < 60; k++)
        {
            power = power * t2;
            var term = Wide.DivInt(power, 2 * k + 1);
            if (term.IsZero || term.Exp < sum.Exp - 132) break;
            sum = (k & 1) != 0 ? sum - term : sum + term;
        }
        return sum.Scale(3);
    }

    /// <summary>FPATAN: atan(y / x) in the quadrant of (x, y).</summary>
    internal static Float80 Atan2(Float80 y, Float80 x, ref FpContext c)
    {
        if (Special2(x, y, ref c, out var r)) return r;
        bool sy = y.Negative, sx = x.Negative;
        Wide pi = Wide.Pi;
        Wide angle;
        if (y.IsInfinity || x.IsInfinity)
        {
            if (y.IsInfinity && x.IsInfinity) angle = sx ? pi.Scale(-2) * Wide.FromInt(3) : pi.Scale(-2);
            else if (y.IsInfinity) angle = pi.Scale(-1);
            else angle = sx ? pi : Wide.Zero;
        }
        else if (y.IsZero)
        {
            if (!sx) return y;
            angle = pi;
        }
        else if (x.IsZero) angle = pi.Scale(-1);
        else
        {
            Wide wy = Wide.From(y).Abs(), wx = Wide.From(x).Abs();
            bool swap = CompareMagnitudes(y, x) > 0;
            angle = swap ? pi.Scale(-1) - AtanSmall(wx / wy) : AtanSmall(wy / wx);
            if (sx) angle = pi - angle;
        }
        if (angle.IsZero) return new Float80(sy, 0, 0);
        return (sy ? angle.Neg() : angle).ToFloat80(ref c);
    }

    /// <summary>F2XM1: 2^x - 1 (defined for -1 &lt;= x &lt;= +1).</summary>
    internal static Float80 TwoToXMinus1(Float80 a, ref FpContext c)
    {
        if (Special1(a, ref c, out var r)) return r;
        if (a.IsZero) return a;
        if (a.IsInfinity) return a.Negative ? new Float80(true, Float80.Bias, Float80.IntegerBit) : a;
        Wide z = Wide.From(a) * Wide.Ln2, term = z, sum = z;
        for (int k = 2; k < 60; k++)
        {
            term = Wide.DivInt(term * z, k);
            if (term.IsZero || term.Exp < sum.Exp - 132) break;
            sum = sum + term;
        }
        // Even 2^1 - 1 and 2^-1 - 1 report PE, as on the host.
        return sum.ToFloat80(ref c);
    }

    /// <summary>log2(x) for a finite x > 0 (exact when x is a power of two).</summary>
    private static Wide Log2(Float80 x)
    {
        Unpack(x, out int e, out ulong m);
        int exponent = e - Float80.Bias;
        Wide mw = new(false, 0, (UInt128)m << 64); // in [1, 2)
        if (m == Float80.IntegerBit) return Wide.FromInt(exponent);
        // Keep the significand within [sqrt(2)/2, sqrt(2)]: 0xB504F333F9DE6484 is sqrt(2) * 2^63.
        if (m > 0xB504_F333_F9DE_6484UL)
        {
            mw = mw.Scale(-1);
            exponent++;
        }
        Wide u = (mw - Wide.One) / (mw + Wide.One);
        return Wide.FromInt(exponent) + Atanh(u).Scale(1) * Wide.InvLn2;
    }

    private static Wide Atanh(Wide u)
    {
        if (u.IsZero) return u;
        Wide u2 = u * u, power = u, sum = u;
        for (int k = 1; k < 80; k++)
        {
            power = power * u2;
            var term = Wide.DivInt(power, 2 * k + 1);
            if (term.IsZero || term.Exp < sum.Exp - 132) break;
            sum = sum + term;
        }
        return sum;
    }

    /// <summary>FYL2X: y * log2(x).</summary>
    internal static Float80 YLog2X(Float80 x, Float80 y, ref FpContext c)
    {
        // A negative x is invalid before it is denormal.
        if (x.Negative && !x.IsZero && !x.IsNaN && !x.IsUnsupported && !y.IsNaN && !y.IsUnsupported) return Invalid(ref c);
        if (Special2(x, y, ref c, out var r)) return r;
        if (x.Negative && !x.IsZero) return Invalid(ref c);
        if (x.IsZero)
        {
            if (y.IsZero) return Invalid(ref c);
            if (!y.IsInfinity) c.Flags |= FpContext.ZE;
            return new Float80(!y.Negative, 0x7FFF, Float80.IntegerBit);
        }
        if (x.IsInfinity)
        {
            if (y.IsZero) return Invalid(ref c);
            return new Float80(y.Negative, 0x7FFF, Float80.IntegerBit);
        }
        bool isOne = x.Exponent == Float80.Bias && x.Significand == Float80.IntegerBit;
        if (y.IsInfinity)
        {
            if (isOne) return Invalid(ref c);
            bool below = x.Exponent < Float80.Bias || (x.IsDenormal);
            return new Float80(y.Negative ^ below, 0x7FFF, Float80.IntegerBit);
        }
        if (isOne || y.IsZero)
        {
            bool belowOne = CompareMagnitudes(x, Float80.One) < 0;
            return new Float80(y.Negative ^ belowOne, 0, 0);
        }
        // An exact logarithm (x a power of two) still reports PE, as on the host.
        var l = Log2(x);
        return (Wide.From(y) * l).ToFloat80(ref c);
    }

    /// <summary>FYL2XP1: y * log2(x + 1) (defined for |x| &lt; 1 - sqrt(2)/2).</summary>
    internal static Float80 YLog2XPlus1(Float80 x, Float80 y, ref FpContext c)
    {
        if (Special2(x, y, ref c, out var r)) return r;
        if (x.IsInfinity)
        {
            if (x.Negative || y.IsZero) return Invalid(ref c);
            return new Float80(y.Negative, 0x7FFF, Float80.IntegerBit);
        }
        if (x.IsZero)
        {
            if (y.IsInfinity) return Invalid(ref c);
            return new Float80(x.Negative ^ y.Negative, 0, 0);
        }
        if (y.IsInfinity) return new Float80(y.Negative ^ x.Negative, 0x7FFF, Float80.IntegerBit);
        if (y.IsZero) return new Float80(x.Negative ^ y.Negative, 0, 0);
        Wide wx = Wide.From(x);
        Wide u = wx / (Wide.FromInt(2) + wx);
        var product = Wide.From(y) * (Atanh(u).Scale(1) * Wide.InvLn2);
        return product.ToFloat80(ref c);
    }
}
