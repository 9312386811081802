using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace VmFt.ReplayLog.Format;

/// <summary>
/// Reads the fields of one checksummed unit (a block payload, a header section) and reports any
/// inconsistency with the absolute offset of the field at fault.
/// </summary>
internal ref struct FieldReader(ReadOnlySpan<byte> data, long baseOffset)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly long Offset => baseOffset + _position;

    public readonly int Remaining => _data.Length - _position;

    public byte ReadByte()
    {
        if (Remaining < 1) ThrowShort(1);
        return _data[_position++];
    }

    public ulong ReadUInt64()
    {
        if (Remaining < 8) ThrowShort(8);
        ulong value = BinaryPrimitives.ReadUInt64LittleEndian(_data[_position..]);
        _position += 8;
        return value;
    }

    public long ReadInt64() => (long)ReadUInt64();

    public ulong ReadVarUInt64()
    {
        ulong result = 0;
        for (int i = 0; i < VarInt.MaxLength; i++)
        {
            if (Remaining < 1) ThrowShort(1);
            byte b = _data[_position++];
            // The tenth byte may only carry bit 63.
            if (i == VarInt.MaxLength - 1 && b > 1)
                throw new LogFormatException(LogFormatError.Malformed, Offset - 1, "varint longer than 64 bits");
            result |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80) return result;
        }
        throw new LogFormatException(LogFormatError.Malformed, Offset, "varint longer than 64 bits");
    }

    /// <summary>A length prefix, checked against <paramref name="maximum"/> before anything is allocated.</summary>
    public int ReadLength(int maximum, string what)
    {
        long at = Offset;
        ulong length = ReadVarUInt64();
        if (length > (ulong)maximum)
            throw new LogFormatException(LogFormatError.Oversized, at, $"{what} of {length} bytes exceeds the maximum of {maximum}");
        if (length > (ulong)Remaining)
            throw new LogFormatException(LogFormatError.Malformed, at, $"{what} of {length} bytes runs past the end of its block ({Remaining} left)");
        return (int)length;
    }

    public ReadOnlySpan<byte> ReadSpan(int length)
    {
        if (Remaining < length) ThrowShort(length);
        ReadOnlySpan<byte> span = _data.Slice(_position, length);
        _position += length;
        return span;
    }

    public string ReadString(int maximum, string what)
    {
        int length = ReadLength(maximum, what);
        long at = Offset;
        try
        {
            return StrictUtf8.GetString(ReadSpan(length));
        }
        catch (DecoderFallbackException)
        {
            throw new LogFormatException(LogFormatError.Malformed, at, $"{what} is not valid UTF-8");
        }
    }

    [DoesNotReturn]
    private readonly void ThrowShort(int wanted) =>
        throw new LogFormatException(LogFormatError.Malformed, Offset, $"field of {wanted} bytes runs past the end of its block ({Remaining} left)");
}
