using System.Buffers;
using System.Text;

namespace VmFt.Channel.Handshake;

/// <summary>Body of Reject and Goodbye frames: <c>code:u8 reason:UTF-8</c>.</summary>
public static class CloseMessage
{
    /// <summary>Longest reason text sent; the rest is cut so a close always fits any frame limit.</summary>
    public const int MaxReasonBytes = 512;

    public static byte[] Encode(ChannelCloseCode code, string reason)
    {
        var text = Encoding.UTF8.GetBytes(reason);
        int length = Math.Min(text.Length, MaxReasonBytes);
        var body = new byte[1 + length];
        body[0] = (byte)code;
        text.AsSpan(0, length).CopyTo(body.AsSpan(1));
        return body;
    }

    public static (ChannelCloseCode Code, string Reason) Decode(in ReadOnlySequence<byte> body)
    {
        if (body.IsEmpty)
            return (ChannelCloseCode.Unspecified, "no reason given");
        var bytes = body.ToArray();
        // Lenient on the text: a reason that is not valid UTF-8 still tells the operator something.
        return ((ChannelCloseCode)bytes[0], Encoding.UTF8.GetString(bytes, 1, bytes.Length - 1));
    }
}
