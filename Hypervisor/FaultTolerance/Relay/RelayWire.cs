using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>
/// The node&lt;-&gt;relay wire format: length-prefixed binary frames. A frame is a u32 little-endian
/// body length (at most <see cref="MaxBodyLength"/>), then the body: a type byte and its fields
/// (u64 little-endian numbers; a node id as a u16 length and UTF-8; data runs to the end of the body).
/// Network frames are a second stream beside the serial bytes, one frame per message: its number,
/// then its bytes. A live announcement with frame positions is its own type (<c>LiveFrames</c>),
/// used only when one of them is not zero, so every message has exactly one encoding.
/// </summary>
public static class RelayWire
{
    public const int MaxBodyLength = 1 << 20;
    public const int MaxNodeIdLength = 256;

    private const byte Hello = 1, Output = 2, InputLogged = 3, Live = 4, Input = 5, Delivered = 6,
        FrameOut = 7, FramesLogged = 8, FrameIn = 9, FramesDelivered = 10, LiveFrames = 11, FramesWanted = 12;

    // Strict: a lenient decoder reads every invalid sequence as U+FFFD, so two different node ids on
    // the wire would become the same node, and the id would not encode back to the bytes it came from.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The whole frame (length prefix included) for <paramref name="message"/>.</summary>
    public static byte[] Encode(object message)
    {
        var body = new ArrayBufferWriter<byte>(64);
        switch (message)
        {
            case NodeHello h: Byte(body, Hello); Text(body, h.NodeId); break;
            case OutputToRelay o: Byte(body, Output); Text(body, o.NodeId); U64(body, o.Generation); U64(body, o.Offset); body.Write(o.Data); break;
            case InputLoggedToRelay l: Byte(body, InputLogged); Text(body, l.NodeId); U64(body, l.Generation); U64(body, l.InputEnd); break;
            case LiveToRelay { FrameInputEnd: 0, FrameOutputEnd: 0 } v: Byte(body, Live); Text(body, v.NodeId); U64(body, v.Generation); U64(body, v.InputEnd); U64(body, v.OutputEnd); break;
            case LiveToRelay v:
                Byte(body, LiveFrames); Text(body, v.NodeId); U64(body, v.Generation); U64(body, v.InputEnd); U64(body, v.OutputEnd);
                U64(body, v.FrameInputEnd); U64(body, v.FrameOutputEnd);
                break;
            case FrameToRelay f: Byte(body, FrameOut); Text(body, f.NodeId); U64(body, f.Generation); U64(body, f.Index); body.Write(f.Frame); break;
            case FramesLoggedToRelay l: Byte(body, FramesLogged); Text(body, l.NodeId); U64(body, l.Generation); U64(body, l.FrameEnd); break;
            case FrameFromRelay f: Byte(body, FrameIn); U64(body, f.Index); body.Write(f.Frame); break;
            case FramesDeliveredFromRelay d: Byte(body, FramesDelivered); U64(body, d.FrameEnd); break;
            case FramesWantedFromRelay w: Byte(body, FramesWanted); U64(body, w.From); break;
            case InputFromRelay i: Byte(body, Input); U64(body, i.Offset); body.Write(i.Data); break;
            case DeliveredFromRelay d: Byte(body, Delivered); U64(body, d.OutputEnd); break;
            default: throw new ArgumentException($"{message.GetType().Name} has no relay encoding", nameof(message));
        }
        if (body.WrittenCount > MaxBodyLength)
            throw new ArgumentException($"a {body.WrittenCount}-byte relay frame exceeds the maximum of {MaxBodyLength}", nameof(message));
        var frame = new byte[4 + body.WrittenCount];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)body.WrittenCount);
        body.WrittenSpan.CopyTo(frame.AsSpan(4));
        return frame;
    }

    /// <summary>
    /// Takes one frame off the front of <paramref name="buffer"/>. False: incomplete (nothing consumed).
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a valid frame.</exception>
    public static bool TryDecode(ref ReadOnlySequence<byte> buffer, out object? message)
    {
        message = null;
        if (buffer.Length < 4) return false;
        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
        if (length == 0 || length > MaxBodyLength)
            throw new InvalidDataException($"relay frame length {length} is outside 1..{MaxBodyLength}");
        if (buffer.Length < 4 + length) return false;
        byte[] body = buffer.Slice(4, length).ToArray();
        buffer = buffer.Slice(4 + length);
        message = DecodeBody(body);
        return true;
    }

    private static object DecodeBody(byte[] body)
    {
        int at = 1;
        return body[0] switch
        {
            Hello => new NodeHello(ReadText(body, ref at)).Also(() => End(body, at)),
            Output => new OutputToRelay(ReadText(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at), body[at..]),
            InputLogged => new InputLoggedToRelay(ReadText(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at)).Also(() => End(body, at)),
            Live => new LiveToRelay(ReadText(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at)).Also(() => End(body, at)),
            Input => new InputFromRelay(ReadU64(body, ref at), body[at..]),
            Delivered => new DeliveredFromRelay(ReadU64(body, ref at)).Also(() => End(body, at)),
            FrameOut => new FrameToRelay(ReadText(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at), body[at..]),
            FramesLogged => new FramesLoggedToRelay(ReadText(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at)).Also(() => End(body, at)),
            FrameIn => new FrameFromRelay(ReadU64(body, ref at), body[at..]),
            FramesDelivered => new FramesDeliveredFromRelay(ReadU64(body, ref at)).Also(() => End(body, at)),
            FramesWanted => new FramesWantedFromRelay(ReadU64(body, ref at)).Also(() => End(body, at)),
            LiveFrames => ReadLiveFrames(body, ref at).Also(() => End(body, at)),
            var t => throw new InvalidDataException($"unknown relay frame type {t}"),
        };
    }

    private static LiveToRelay ReadLiveFrames(byte[] body, ref int at)
    {
        var live = new LiveToRelay(ReadText(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at), ReadU64(body, ref at))
        {
            FrameInputEnd = ReadU64(body, ref at),
            FrameOutputEnd = ReadU64(body, ref at),
        };
        // Both zero is the plain announcement's encoding: two encodings of one message are refused.
        if (live.FrameInputEnd == 0 && live.FrameOutputEnd == 0)
            throw new InvalidDataException($"relay frame type {LiveFrames} carries no frame positions (that announcement is type {Live})");
        return live;
    }

    private static T Also<T>(this T value, Action check)
    {
        check();
        return value;
    }

    private static void End(byte[] body, int at)
    {
        if (at != body.Length) throw new InvalidDataException($"relay frame type {body[0]} has {body.Length - at} trailing bytes");
    }

    private static void Byte(ArrayBufferWriter<byte> w, byte b) => w.Write([b]);

    private static void U64(ArrayBufferWriter<byte> w, ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(w.GetSpan(8), v);
        w.Advance(8);
    }

    private static void Text(ArrayBufferWriter<byte> w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > MaxNodeIdLength) throw new ArgumentException($"node id '{s}' is longer than {MaxNodeIdLength} bytes");
        BinaryPrimitives.WriteUInt16LittleEndian(w.GetSpan(2), (ushort)bytes.Length);
        w.Advance(2);
        w.Write(bytes);
    }

    private static ulong ReadU64(byte[] body, ref int at)
    {
        if (body.Length - at < 8) throw new InvalidDataException($"relay frame type {body[0]} is truncated");
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(body.AsSpan(at));
        at += 8;
        return v;
    }

    private static string ReadText(byte[] body, ref int at)
    {
        if (body.Length - at < 2) throw new InvalidDataException($"relay frame type {body[0]} is truncated");
        int n = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(at));
        at += 2;
        if (n > MaxNodeIdLength || body.Length - at < n) throw new InvalidDataException($"relay frame type {body[0]}: bad node id length {n}");
        string s;
        try
        {
            s = StrictUtf8.GetString(body, at, n);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"relay frame type {body[0]}: the node id at body offset {at} is not valid UTF-8");
        }
        at += n;
        return s;
    }
}
