using System.Text;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>Hex text as the remote protocol writes it: lower case, two digits a byte, numbers big-endian without leading zeros.</summary>
public static class GdbHex
{
    private const string Digits = "0123456789abcdef";

    public static int Value(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length * 2);
        foreach (byte b in bytes) sb.Append(Digits[b >> 4]).Append(Digits[b & 15]);
        return sb.ToString();
    }

    public static string Encode(string text) => Encode(Encoding.UTF8.GetBytes(text));

    /// <summary>Hex pairs to bytes; null if the length is odd or a character is not a hex digit.</summary>
    public static byte[]? Decode(ReadOnlySpan<char> text)
    {
        if ((text.Length & 1) != 0) return null;
        var bytes = new byte[text.Length / 2];
        for (int i = 0; i < bytes.Length; i++)
        {
            int hi = Value(text[2 * i]), lo = Value(text[2 * i + 1]);
            if (hi < 0 || lo < 0) return null;
            bytes[i] = (byte)(hi << 4 | lo);
        }
        return bytes;
    }

    /// <summary>A big-endian hex number of at most 16 digits (addresses, lengths, register numbers).</summary>
    public static bool TryParseNumber(ReadOnlySpan<char> text, out ulong value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 16) return false;
        foreach (char c in text)
        {
            int d = Value(c);
            if (d < 0) return false;
            value = value << 4 | (uint)d;
        }
        return true;
    }

    /// <summary>A 32-bit value as the target stores it (little-endian bytes), the form of registers in g/p packets.</summary>
    public static string EncodeLittleEndian32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return Encode(b);
    }
}
