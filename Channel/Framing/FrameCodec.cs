using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace VmFt.Channel.Framing;

/// <summary>
/// Frame layout, little-endian: <c>type:u8 length:u32 body[length]</c>. LogData, Ack and Heartbeat
/// bodies start with a u64 value. Parsing is synchronous and pure; nothing is allocated for a
/// frame that is too long or malformed.
/// </summary>
public static class FrameCodec
{
    public const int HeaderLength = 5;
    public const int ValueLength = 8;

    /// <summary>Default maximum body length: a log batch larger than this must be split by the sender.</summary>
    public const int DefaultMaxBodyLength = 1 << 20;

    public static bool TryParseFrame(ref ReadOnlySequence<byte> buffer, out Frame frame) =>
        TryParseFrame(ref buffer, DefaultMaxBodyLength, out frame);

    /// <summary>
    /// Decodes one frame from the front of <paramref name="buffer"/> and slices it off.
    /// Returns false (buffer untouched) when the frame is not complete yet.
    /// </summary>
    /// <exception cref="ChannelProtocolException">The bytes can never become a valid frame.</exception>
    public static bool TryParseFrame(ref ReadOnlySequence<byte> buffer, int maxBodyLength, out Frame frame)
    {
        frame = default;
        if (buffer.Length < HeaderLength)
            return false;

        Span<byte> header = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(header);
        var type = (FrameType)header[0];
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[1..]);

        // Checked before waiting for the body, so a hostile length never makes us buffer or allocate.
        if (!IsKnown(type))
            ThrowProtocol($"unknown frame type 0x{header[0]:X2}");
        if (length > (uint)maxBodyLength)
            ThrowProtocol($"{type} frame of {length} bytes exceeds the maximum of {maxBodyLength}");
        if (Frame.HasValue(type))
        {
            if (length < ValueLength)
                ThrowProtocol($"{type} frame of {length} bytes is shorter than its 8-byte sequence");
            if (type is not (FrameType.LogData or FrameType.State) && length != ValueLength)
                ThrowProtocol($"{type} frame must be 8 bytes, got {length}");
        }

        if (buffer.Length - HeaderLength < length)
            return false;

        var body = buffer.Slice(HeaderLength, length);
        if (Frame.HasValue(type))
        {
            Span<byte> value = stackalloc byte[ValueLength];
            body.Slice(0, ValueLength).CopyTo(value);
            frame = new Frame(type, BinaryPrimitives.ReadUInt64LittleEndian(value), body.Slice(ValueLength));
        }
        else
        {
            frame = new Frame(type, 0, body);
        }
        buffer = buffer.Slice(body.End);
        return true;
    }

    /// <summary>Encodes <paramref name="frame"/> into <paramref name="output"/>.</summary>
    public static void WriteFrame(in Frame frame, IBufferWriter<byte> output)
    {
        bool hasValue = Frame.HasValue(frame.Type);
        long bodyLength = frame.Payload.Length + (hasValue ? ValueLength : 0);
        if (!IsKnown(frame.Type))
            throw new ArgumentException($"unknown frame type {frame.Type}", nameof(frame));
        if (bodyLength > uint.MaxValue)
            throw new ArgumentException("frame body too long", nameof(frame));
        if (!hasValue && frame.Value != 0)
            throw new ArgumentException($"{frame.Type} frames carry no value", nameof(frame));
        if (frame.Type is FrameType.Ack or FrameType.Heartbeat && !frame.Payload.IsEmpty)
            throw new ArgumentException($"{frame.Type} frames carry no payload", nameof(frame));

        int headLength = HeaderLength + (hasValue ? ValueLength : 0);
        var head = output.GetSpan(headLength);
        head[0] = (byte)frame.Type;
        BinaryPrimitives.WriteUInt32LittleEndian(head[1..], (uint)bodyLength);
        if (hasValue)
            BinaryPrimitives.WriteUInt64LittleEndian(head[HeaderLength..], frame.Value);
        output.Advance(headLength);

        foreach (var segment in frame.Payload)
            output.Write(segment.Span);
    }

    /// <summary>Total encoded size of a frame with that body.</summary>
    public static long EncodedLength(in Frame frame) =>
        HeaderLength + (Frame.HasValue(frame.Type) ? ValueLength : 0) + frame.Payload.Length;

    private static bool IsKnown(FrameType type) => type is >= FrameType.Hello and <= FrameType.State;

    [DoesNotReturn]
    private static void ThrowProtocol(string reason) => throw new ChannelProtocolException(reason);
}
