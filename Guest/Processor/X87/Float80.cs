using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor.X87;

/// <summary>
/// One x87 register value in the double extended-precision format, bit for bit: a 64-bit
/// significand with an explicit integer bit (bit 63), then a 15-bit biased exponent and the sign in
/// bit 15 of <see cref="SignExponent"/>. Every encoding is representable, the unsupported ones
/// (unnormals, pseudo-NaNs, pseudo-infinities) and pseudo-denormals included.
/// </summary>
public readonly struct Float80 : IEquatable<Float80>
{
    public readonly ulong Significand;
    public readonly ushort SignExponent;

    public const int Bias = 16383;
    public const int MaxExponent = 0x7FFF;
    internal const ulong IntegerBit = 1UL << 63;
    internal const ulong QuietBit = 1UL << 62;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Float80(ulong significand, ushort signExponent)
    {
        Significand = significand;
        SignExponent = signExponent;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Float80(bool negative, int exponent, ulong significand)
    {
        Significand = significand;
        SignExponent = (ushort)((negative ? 0x8000 : 0) | (exponent & 0x7FFF));
    }

    public int Exponent => SignExponent & 0x7FFF;
    public bool Negative => (SignExponent & 0x8000) != 0;

    public static Float80 Zero => default;
    public static Float80 NegativeZero => new(0, 0x8000);
    public static Float80 One => new(IntegerBit, Bias);
    public static Float80 PositiveInfinity => new(IntegerBit, 0x7FFF);
    public static Float80 NegativeInfinity => new(IntegerBit, 0xFFFF);
    /// <summary>The real indefinite: the QNaN the x87 returns for a masked invalid operation.</summary>
    public static Float80 Indefinite => new(0xC000_0000_0000_0000, 0xFFFF);

    public bool IsZero => Exponent == 0 && Significand == 0;
    /// <summary>Exponent 0, significand nonzero: denormals and pseudo-denormals (integer bit set).</summary>
    public bool IsDenormal => Exponent == 0 && Significand != 0;
    public bool IsPseudoDenormal => Exponent == 0 && (Significand & IntegerBit) != 0;
    public bool IsInfinity => Exponent == 0x7FFF && Significand == IntegerBit;
    public bool IsNaN => Exponent == 0x7FFF && (Significand & IntegerBit) != 0 && (Significand << 1) != 0;
    public bool IsSignalingNaN => IsNaN && (Significand & QuietBit) == 0;
    public bool IsQuietNaN => IsNaN && (Significand & QuietBit) != 0;
    /// <summary>
    /// The encodings the 80387 and later reject as operands (invalid operation): a nonzero exponent
    /// with the integer bit clear (unnormals; with exponent 0x7FFF, pseudo-NaNs and pseudo-infinities).
    /// </summary>
    public bool IsUnsupported => Exponent != 0 && (Significand & IntegerBit) == 0;
    public bool IsNormal => Exponent is > 0 and < 0x7FFF && (Significand & IntegerBit) != 0;

    public Float80 Negate() => new(Significand, (ushort)(SignExponent ^ 0x8000));
    public Float80 Abs() => new(Significand, (ushort)(SignExponent & 0x7FFF));
    public Float80 WithSign(bool negative) => new(Significand, (ushort)((SignExponent & 0x7FFF) | (negative ? 0x8000 : 0)));
    /// <summary>The same NaN with its quiet bit set.</summary>
    public Float80 Quieted() => new(Significand | QuietBit, SignExponent);

    public bool Equals(Float80 other) => Significand == other.Significand && SignExponent == other.SignExponent;
    public override bool Equals(object? obj) => obj is Float80 f && Equals(f);
    public override int GetHashCode() => HashCode.Combine(Significand, SignExponent);
    public static bool operator ==(Float80 a, Float80 b) => a.Equals(b);
    public static bool operator !=(Float80 a, Float80 b) => !a.Equals(b);

    /// <summary>The 10 bytes as FSTP m80 stores them (significand first, little-endian).</summary>
    public void WriteTo(Span<byte> bytes)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, Significand);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes[8..], SignExponent);
    }

    public static Float80 ReadFrom(ReadOnlySpan<byte> bytes) =>
        new(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes), System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]));

    /// <summary>Hex of the encoding, sign/exponent first: "3FFF:8000000000000000".</summary>
    public override string ToString() => $"{SignExponent:X4}:{Significand:X16}";
}
