using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using VmFt.Channel;
using VmFt.Channel.Framing;
using VmFt.Channel.Handshake;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// The channel handshake on both sides: the input is everything the peer sends (then it closes),
/// read by <see cref="ChannelHandshake.RespondAsync"/> and by <see cref="ChannelHandshake.InitiateAsync"/>
/// over an in-memory duplex pipe. The proof cannot be forged, so a run ends refused; how it is
/// refused is what is tested.
/// </summary>
public sealed class HandshakeTarget : FuzzTarget
{
    internal static readonly Guid VmId = new("6f1c2d3e-4b5a-4978-8a9b-0c1d2e3f4a5b");
    private static readonly byte[] Secret = "fuzz-shared-secret"u8.ToArray();

    public override string Name => "handshake";

    public override string Description => "channel handshake: ChannelHandshake.RespondAsync and InitiateAsync over an in-memory pipe";

    public override void Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        Exception? first = null;
        foreach (bool initiator in new[] { false, true })
        {
            try
            {
                Shake(bytes, initiator);
            }
            catch (Exception e)
            {
                first ??= e;
                if (!IsContract(e)) throw;
            }
        }
        if (first is null) throw new InvariantException("a handshake succeeded without the shared secret's proof");
        throw first;
    }

    private static void Shake(byte[] peerBytes, bool initiator)
    {
        var toUs = new Pipe();
        var fromUs = new Pipe(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0));
        toUs.Writer.Write(peerBytes);
        toUs.Writer.Complete();
        var transport = new Duplex(toUs.Reader, fromUs.Writer);
        var options = new LogChannelOptions
        {
            VmId = VmId,
            LocalRole = initiator ? ChannelRole.Backup : ChannelRole.Primary,
            SharedSecret = Secret,
            HandshakeTimeout = TimeSpan.FromSeconds(5),
        };
        var run = initiator
            ? ChannelHandshake.InitiateAsync(transport, options, NullLogger.Instance, CancellationToken.None)
            : ChannelHandshake.RespondAsync(transport, options, NullLogger.Instance, CancellationToken.None);
        run.GetAwaiter().GetResult();
    }

    public override bool IsContract(Exception e) => e is ChannelRejectedException or ChannelProtocolException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        byte[] Hello(ChannelRole role) =>
            new HelloMessage(ChannelProtocol.Magic, ChannelProtocol.Version, role, VmId, 0, new byte[HelloMessage.NonceLength]).ToBytes();
        yield return ("hello-then-proof", FrameTarget.Encode(Frame.Body(FrameType.Hello, Hello(ChannelRole.Backup)), Frame.Body(FrameType.HelloAck, new byte[32])));
        yield return ("hello-primary", FrameTarget.Encode(Frame.Body(FrameType.Hello, Hello(ChannelRole.Primary))));
        yield return ("reject", FrameTarget.Encode(Frame.Body(FrameType.Reject, CloseMessage.Encode(ChannelCloseCode.AuthenticationFailed, "no"))));
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;
        public PipeWriter Output => output;
    }
}
