using System.Buffers;
using VmFt.Channel;
using VmFt.Channel.Framing;
using VmFt.Channel.Handshake;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// The logging channel's frames as a node receives them: <see cref="FrameCodec.TryParseFrame(ref ReadOnlySequence{byte}, out Frame)"/>
/// over a two-segment buffer, with the bodies decoded (Hello, Reject/Goodbye reasons).
/// </summary>
public sealed class FrameTarget : FuzzTarget
{
    public override string Name => "frames";

    public override string Description => "channel frames: FrameCodec, HelloMessage, CloseMessage";

    public override void Run(ReadOnlySpan<byte> input)
    {
        // The split point comes from the input, so segment boundaries fall anywhere in a frame.
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[^1] % (bytes.Length + 1);
        var buffer = Segments.Of(bytes.AsMemory(0, split), bytes.AsMemory(split));
        long before = buffer.Length;
        while (FrameCodec.TryParseFrame(ref buffer, out var frame))
        {
            long consumed = before - buffer.Length;
            if (consumed < FrameCodec.HeaderLength || consumed > FrameCodec.HeaderLength + FrameCodec.DefaultMaxBodyLength)
                throw new InvariantException($"a {frame.Type} frame consumed {consumed} bytes");
            before = buffer.Length;
            switch (frame.Type)
            {
                case FrameType.Hello:
                    HelloMessage.TryParse(frame.Payload.ToArray(), out _, out _, out _);
                    break;
                case FrameType.Reject or FrameType.Goodbye:
                    CloseMessage.Decode(frame.Payload);
                    break;
            }
        }
    }

    public override bool IsContract(Exception e) => e is ChannelProtocolException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var hello = new HelloMessage(ChannelProtocol.Magic, ChannelProtocol.Version, ChannelRole.Primary, HandshakeTarget.VmId, 0, new byte[HelloMessage.NonceLength]).ToBytes();
        yield return ("hello", Encode(Frame.Body(FrameType.Hello, hello)));
        yield return ("log-ack-heartbeat", Encode(Frame.LogData(7, new byte[] { 1, 2, 3, 4, 5 }), Frame.Ack(7), Frame.Heartbeat(1000)));
        yield return ("reject", Encode(Frame.Body(FrameType.Reject, CloseMessage.Encode(ChannelCloseCode.WrongVmId, "wrong vm"))));
        yield return ("state-then-log", Encode(Frame.State(1, new byte[] { 1, 0, 0 }), Frame.State(3, new byte[] { 1 }), Frame.LogData(9, new byte[] { 6 })));
        yield return ("goodbye", Encode(Frame.Body(FrameType.Goodbye, CloseMessage.Encode(ChannelCloseCode.Unspecified, "bye")), Frame.Body(FrameType.HelloAck, new byte[32])));
    }

    internal static byte[] Encode(params Frame[] frames)
    {
        var output = new ArrayBufferWriter<byte>();
        foreach (var f in frames) FrameCodec.WriteFrame(f, output);
        return output.WrittenSpan.ToArray();
    }
}

/// <summary>A <see cref="ReadOnlySequence{T}"/> of several segments, as a pipe hands out.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Of(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second)
    {
        var a = new Segments(first, 0);
        var b = new Segments(second, first.Length);
        a.Next = b;
        return new ReadOnlySequence<byte>(a, 0, b, second.Length);
    }
}
