using System.Text;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>
/// The remote protocol's packet envelope: <c>$payload#cs</c> where cs is the modulo-256 sum of the
/// payload bytes as sent, in two hex digits. Binary payloads escape <c>$ # } *</c> as <c>}</c>
/// followed by the byte XOR 0x20 (a raw <c>*</c> would be read as run-length encoding by gdb).
/// </summary>
public static class GdbFraming
{
    public const byte Escape = (byte)'}';

    public static byte Checksum(ReadOnlySpan<byte> payload)
    {
        byte sum = 0;
        foreach (byte b in payload) sum += b;
        return sum;
    }

    /// <summary>The bytes on the wire for one packet; <paramref name="payload"/> must already be escaped if binary.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        var frame = new byte[payload.Length + 4];
        frame[0] = (byte)'$';
        payload.CopyTo(frame.AsSpan(1));
        byte cs = Checksum(payload);
        frame[^3] = (byte)'#';
        frame[^2] = (byte)"0123456789abcdef"[cs >> 4];
        frame[^1] = (byte)"0123456789abcdef"[cs & 15];
        return frame;
    }

    public static byte[] Frame(string payload) => Frame(Encoding.Latin1.GetBytes(payload));

    public static bool NeedsEscape(byte b) => b is (byte)'$' or (byte)'#' or (byte)'}' or (byte)'*';

    public static byte[] EscapeBinary(ReadOnlySpan<byte> data)
    {
        var output = new List<byte>(data.Length + 8);
        foreach (byte b in data)
        {
            if (NeedsEscape(b))
            {
                output.Add(Escape);
                output.Add((byte)(b ^ 0x20));
            }
            else
            {
                output.Add(b);
            }
        }
        return output.ToArray();
    }

    /// <summary>Undoes <see cref="EscapeBinary"/>; null if the data ends in the middle of an escape.</summary>
    public static byte[]? UnescapeBinary(ReadOnlySpan<byte> data)
    {
        var output = new byte[data.Length];
        int n = 0;
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] == Escape)
            {
                if (++i == data.Length) return null;
                output[n++] = (byte)(data[i] ^ 0x20);
            }
            else
            {
                output[n++] = data[i];
            }
        }
        return output[..n];
    }
}
