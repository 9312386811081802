using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using VmFt.Channel.Framing;

namespace VmFt.Channel.Handshake;

/// <summary>
/// Mutual authentication before any log byte moves:
/// <code>
/// initiator -> Hello(magic, version, role, vmId, machine, nonceI)
/// responder -> Hello(magic, version, role, vmId, machine, nonceR)   or Reject
/// initiator -> HelloAck(HMAC(secret, "VmFt initiator" | helloI | helloR)) or Reject
/// responder -> HelloAck(HMAC(secret, "VmFt responder" | helloI | helloR)) or Reject
/// </code>
/// Both nonces are in the transcript, so a recorded proof cannot be replayed on a new connection.
/// On any refusal the refusing side sends Reject with the reason, both ends complete the pipe, and
/// a <see cref="ChannelRejectedException"/> is thrown on both.
/// </summary>
public static class ChannelHandshake
{
    private static readonly byte[] InitiatorLabel = Encoding.ASCII.GetBytes("VmFt initiator");
    private static readonly byte[] ResponderLabel = Encoding.ASCII.GetBytes("VmFt responder");

    public static Task<HandshakeResult> InitiateAsync(IDuplexPipe transport, LogChannelOptions options, ILogger logger, CancellationToken cancellationToken) =>
        RunAsync(transport, options, logger, initiator: true, cancellationToken);

    public static Task<HandshakeResult> RespondAsync(IDuplexPipe transport, LogChannelOptions options, ILogger logger, CancellationToken cancellationToken) =>
        RunAsync(transport, options, logger, initiator: false, cancellationToken);

    private static async Task<HandshakeResult> RunAsync(
        IDuplexPipe transport, LogChannelOptions options, ILogger logger, bool initiator, CancellationToken cancellationToken)
    {
        options.Validate();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.HandshakeTimeout);
        var ct = timeout.Token;
        Exception? failure = null;
        try
        {
            var ours = new HelloMessage(ChannelProtocol.Magic, ChannelProtocol.Version, options.LocalRole, options.VmId, options.Machine,
                RandomNumberGenerator.GetBytes(HelloMessage.NonceLength)).ToBytes();
            byte[] initiatorHello, responderHello;
            if (initiator)
            {
                await SendAsync(transport.Output, Frame.Body(FrameType.Hello, ours), ct).ConfigureAwait(false);
                responderHello = await ReceiveHelloAsync(transport, options, logger, ct).ConfigureAwait(false);
                initiatorHello = ours;
            }
            else
            {
                initiatorHello = await ReceiveHelloAsync(transport, options, logger, ct).ConfigureAwait(false);
                responderHello = ours;
                await SendAsync(transport.Output, Frame.Body(FrameType.Hello, ours), ct).ConfigureAwait(false);
            }

            var ourProof = Proof(options.SharedSecret, initiator ? InitiatorLabel : ResponderLabel, initiatorHello, responderHello);
            var theirProof = Proof(options.SharedSecret, initiator ? ResponderLabel : InitiatorLabel, initiatorHello, responderHello);
            if (initiator)
            {
                await SendAsync(transport.Output, Frame.Body(FrameType.HelloAck, ourProof), ct).ConfigureAwait(false);
                await ReceiveProofAsync(transport, options, logger, theirProof, ct).ConfigureAwait(false);
            }
            else
            {
                await ReceiveProofAsync(transport, options, logger, theirProof, ct).ConfigureAwait(false);
                await SendAsync(transport.Output, Frame.Body(FrameType.HelloAck, ourProof), ct).ConfigureAwait(false);
            }

            var peerRole = options.LocalRole == ChannelRole.Primary ? ChannelRole.Backup : ChannelRole.Primary;
            ChannelLog.Established(logger, options.LocalRole, peerRole, options.VmId);
            return new HandshakeResult(peerRole, options.VmId, ChannelProtocol.Version);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var reason = $"no complete handshake within {options.HandshakeTimeout.TotalMilliseconds:F0} ms";
            failure = new ChannelRejectedException(ChannelCloseCode.HandshakeTimeout, reason, byPeer: false);
            ChannelLog.RefusedPeer(logger, ChannelCloseCode.HandshakeTimeout, reason);
            throw failure;
        }
        catch (ChannelProtocolException e)
        {
            // A broken frame during the handshake: refuse like any other mismatch.
            failure = await RefuseAsync(transport, logger, ChannelCloseCode.MalformedHandshake, e.Message).ConfigureAwait(false);
            throw failure;
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            if (failure is not null)
            {
                await transport.Input.CompleteAsync(failure).ConfigureAwait(false);
                // After a Reject the close is orderly, so the peer still reads the reason;
                // completing with the exception would make an in-process pipe discard it.
                await transport.Output.CompleteAsync(failure is ChannelRejectedException ? null : failure).ConfigureAwait(false);
            }
        }
    }

    private static async Task<byte[]> ReceiveHelloAsync(IDuplexPipe transport, LogChannelOptions options, ILogger logger, CancellationToken ct)
    {
        var body = await ReceiveAsync(transport, options, logger, FrameType.Hello, ct).ConfigureAwait(false);
        if (!HelloMessage.TryParse(body, out var hello, out var code, out var reason))
            throw await RefuseAsync(transport, logger, code, reason).ConfigureAwait(false);
        if (hello.Role == options.LocalRole)
            throw await RefuseAsync(transport, logger, ChannelCloseCode.WrongRole,
                $"peer claims role {hello.Role}, the same as this node's").ConfigureAwait(false);
        if (hello.VmId != options.VmId)
            throw await RefuseAsync(transport, logger, ChannelCloseCode.WrongVmId,
                $"peer replicates VM {hello.VmId}, this node replicates VM {options.VmId}").ConfigureAwait(false);
        if (hello.Machine != options.Machine)
            throw await RefuseAsync(transport, logger, ChannelCloseCode.WrongMachine,
                $"the peer started another machine (state hash {hello.Machine:x16}, this node {options.Machine:x16}): " +
                "both nodes need the same image, --initrd, --cmdline, --mem and --rom").ConfigureAwait(false);
        return body;
    }

    private static async Task ReceiveProofAsync(IDuplexPipe transport, LogChannelOptions options, ILogger logger, byte[] expected, CancellationToken ct)
    {
        var proof = await ReceiveAsync(transport, options, logger, FrameType.HelloAck, ct).ConfigureAwait(false);
        if (!CryptographicOperations.FixedTimeEquals(proof, expected))
            throw await RefuseAsync(transport, logger, ChannelCloseCode.AuthenticationFailed,
                "the peer's proof does not match: it does not hold the shared secret").ConfigureAwait(false);
    }

    /// <summary>Reads one frame of the expected type; a Reject from the peer becomes the exception.</summary>
    private static async Task<byte[]> ReceiveAsync(IDuplexPipe transport, LogChannelOptions options, ILogger logger, FrameType expected, CancellationToken ct)
    {
        FrameType type = default;
        byte[] body = [];
        var read = await FrameReader.ReadAsync(transport.Input, options.MaxFrameBodyLength, (in Frame f) =>
        {
            type = f.Type;
            body = f.Payload.ToArray();
            return false;
        }, null, ct).ConfigureAwait(false);

        if (!read.Stopped)
            throw new ChannelProtocolException($"connection closed by the peer while waiting for {expected}" +
                (read.PendingBytes > 0 ? $" ({read.PendingBytes} bytes of a frame arrived)" : ""));
        if (type == FrameType.Reject)
        {
            var (code, reason) = CloseMessage.Decode(new ReadOnlySequence<byte>(body));
            ChannelLog.RefusedByPeer(logger, code, reason);
            throw new ChannelRejectedException(code, reason, byPeer: true);
        }
        if (type != expected)
            throw new ChannelProtocolException($"expected {expected} during the handshake, got {type}");
        return body;
    }

    private static async Task<ChannelRejectedException> RefuseAsync(IDuplexPipe transport, ILogger logger, ChannelCloseCode code, string reason)
    {
        ChannelLog.RefusedPeer(logger, code, reason);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await SendAsync(transport.Output, Frame.Body(FrameType.Reject, CloseMessage.Encode(code, reason)), cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
        {
            // The peer may already be gone; the refusal still stands locally.
        }
        return new ChannelRejectedException(code, reason, byPeer: false);
    }

    private static byte[] Proof(byte[] secret, byte[] label, byte[] initiatorHello, byte[] responderHello)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret);
        hmac.AppendData(label);
        hmac.AppendData(initiatorHello);
        hmac.AppendData(responderHello);
        return hmac.GetHashAndReset();
    }

    internal static async ValueTask SendAsync(PipeWriter output, Frame frame, CancellationToken ct)
    {
        FrameCodec.WriteFrame(frame, output);
        var result = await output.FlushAsync(ct).ConfigureAwait(false);
        if (result.IsCompleted)
            throw new IOException("the connection is closed");
    }
}
