using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using VmFt.Channel.Framing;
using VmFt.Channel.Handshake;
using VmFt.Channel.Transport;
using static VmFt.Channel.Tests.ChannelTestKit;

namespace VmFt.Channel.Tests.Handshake;

public class HandshakeTests
{
    [Fact]
    public async Task Matching_peers_establish_a_channel_with_opposite_roles()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var (primary, backup) = await OpenAsync(a, b, Options(ChannelRole.Primary), Options(ChannelRole.Backup));
        await using (primary)
        await using (backup)
        {
            Assert.Equal(ChannelRole.Backup, primary.PeerRole);
            Assert.Equal(ChannelRole.Primary, backup.PeerRole);
            Assert.True(primary.IsOpen);
            Assert.True(backup.IsOpen);
        }
    }

    /// <summary>Runs both ends through the real handshake and returns both failures.</summary>
    private static async Task<(ChannelRejectedException Connector, ChannelRejectedException Acceptor, CapturingLogger AcceptorLog)> RefusedAsync(
        LogChannelOptions connector, LogChannelOptions acceptor)
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var log = new CapturingLogger();
        var accepting = LogChannel.AcceptAsync(b, acceptor, log);
        var connecting = LogChannel.ConnectAsync(a, connector);
        var c = await Assert.ThrowsAsync<ChannelRejectedException>(() => connecting.WaitAsync(Patience));
        var s = await Assert.ThrowsAsync<ChannelRejectedException>(() => accepting.WaitAsync(Patience));
        return (c, s, log);
    }

    [Fact]
    public async Task Wrong_secret_is_refused_on_both_sides()
    {
        var (connector, acceptor, log) = await RefusedAsync(
            Options(ChannelRole.Primary, secret: "not the secret"u8.ToArray()), Options(ChannelRole.Backup));

        Assert.Equal(ChannelCloseCode.AuthenticationFailed, acceptor.Code);
        Assert.False(acceptor.ByPeer);
        Assert.Equal(ChannelCloseCode.AuthenticationFailed, connector.Code);
        Assert.True(connector.ByPeer);
        Assert.Contains("shared secret", connector.Reason);
        Assert.True(log.Has(4001, "AuthenticationFailed"));
        Assert.False(log.Has(4003, ""));
    }

    [Fact]
    public async Task Wrong_vm_id_is_refused_with_both_ids_in_the_reason()
    {
        var other = new Guid("11111111-2222-3333-4444-555555555555");
        var (connector, acceptor, log) = await RefusedAsync(
            Options(ChannelRole.Primary, vmId: other), Options(ChannelRole.Backup));

        Assert.Equal(ChannelCloseCode.WrongVmId, acceptor.Code);
        Assert.Equal(ChannelCloseCode.WrongVmId, connector.Code);
        Assert.Contains(other.ToString(), connector.Reason);
        Assert.Contains(VmId.ToString(), connector.Reason);
        Assert.True(log.Has(4001, other.ToString()));
    }

    [Fact]
    public async Task Two_backups_refuse_each_other()
    {
        var (connector, acceptor, _) = await RefusedAsync(Options(ChannelRole.Backup), Options(ChannelRole.Backup));

        Assert.Equal(ChannelCloseCode.WrongRole, acceptor.Code);
        Assert.Equal(ChannelCloseCode.WrongRole, connector.Code);
    }

    private static byte[] RawHello(ulong magic, ushort version, Guid vmId) =>
        new HelloMessage(magic, version, ChannelRole.Primary, vmId, 0, new byte[HelloMessage.NonceLength]).ToBytes();

    /// <summary>A hand-made peer sends one frame; returns the acceptor's failure and the frame it answered with.</summary>
    private static async Task<(ChannelRejectedException Failure, (FrameType Type, ulong Value, byte[] Payload)? Answer, CapturingLogger Log)> RawPeerAsync(Frame first)
    {
        var (raw, b) = InMemoryDuplexPipe.CreatePair();
        var log = new CapturingLogger();
        var accepting = LogChannel.AcceptAsync(b, Options(ChannelRole.Backup), log);
        await WriteFrameAsync(raw.Output, first);
        var failure = await Assert.ThrowsAsync<ChannelRejectedException>(() => accepting.WaitAsync(Patience));
        var answer = await ReadFrameAsync(raw.Input);
        return (failure, answer, log);
    }

    [Fact]
    public async Task Wrong_magic_is_refused_with_a_reject_frame()
    {
        var (failure, answer, log) = await RawPeerAsync(Frame.Body(FrameType.Hello, RawHello(0x1122334455667788, ChannelProtocol.Version, VmId)));

        Assert.Equal(ChannelCloseCode.BadMagic, failure.Code);
        Assert.NotNull(answer);
        Assert.Equal(FrameType.Reject, answer.Value.Type);
        var (code, reason) = CloseMessage.Decode(new ReadOnlySequence<byte>(answer.Value.Payload));
        Assert.Equal(ChannelCloseCode.BadMagic, code);
        Assert.Contains("1122334455667788", reason);
        Assert.True(log.Has(4001, "magic"));
    }

    [Fact]
    public async Task Wrong_version_is_refused_with_a_reject_frame()
    {
        var (failure, answer, _) = await RawPeerAsync(Frame.Body(FrameType.Hello, RawHello(ChannelProtocol.Magic, 7, VmId)));

        Assert.Equal(ChannelCloseCode.UnsupportedVersion, failure.Code);
        Assert.Equal(FrameType.Reject, answer!.Value.Type);
        var (code, reason) = CloseMessage.Decode(new ReadOnlySequence<byte>(answer.Value.Payload));
        Assert.Equal(ChannelCloseCode.UnsupportedVersion, code);
        Assert.Contains("version 7", reason);
    }

    [Fact]
    public async Task A_future_version_with_a_longer_hello_is_still_refused_for_its_version()
    {
        var longer = RawHello(ChannelProtocol.Magic, (ushort)(ChannelProtocol.Version + 1), VmId).Concat(new byte[20]).ToArray();
        var (failure, _, _) = await RawPeerAsync(Frame.Body(FrameType.Hello, longer));

        Assert.Equal(ChannelCloseCode.UnsupportedVersion, failure.Code);
    }

    [Fact]
    public async Task Log_data_before_the_handshake_is_refused_and_not_applied()
    {
        var (failure, answer, _) = await RawPeerAsync(Frame.LogData(1, new byte[] { 1, 2, 3 }));

        Assert.Equal(ChannelCloseCode.MalformedHandshake, failure.Code);
        Assert.Contains("expected Hello", failure.Reason);
        Assert.Equal(FrameType.Reject, answer!.Value.Type);
    }

    [Fact]
    public async Task Garbage_instead_of_a_hello_is_refused()
    {
        var (raw, b) = InMemoryDuplexPipe.CreatePair();
        var accepting = LogChannel.AcceptAsync(b, Options(ChannelRole.Backup));
        await raw.Output.WriteAsync(new byte[] { 0x47, 0x45, 0x54, 0x20, 0x2F, 0x20 }); // "GET / "

        var failure = await Assert.ThrowsAsync<ChannelRejectedException>(() => accepting.WaitAsync(Patience));
        Assert.Equal(ChannelCloseCode.MalformedHandshake, failure.Code);
        Assert.Contains("unknown frame type 0x47", failure.Reason);
    }

    [Fact]
    public async Task A_peer_that_never_speaks_times_out()
    {
        var (_, b) = InMemoryDuplexPipe.CreatePair();
        var options = new LogChannelOptions
        {
            VmId = VmId, LocalRole = ChannelRole.Backup, SharedSecret = Secret,
            HandshakeTimeout = TimeSpan.FromMilliseconds(300),
        };

        var failure = await Assert.ThrowsAsync<ChannelRejectedException>(() => LogChannel.AcceptAsync(b, options).WaitAsync(Patience));
        Assert.Equal(ChannelCloseCode.HandshakeTimeout, failure.Code);
    }

    [Fact]
    public async Task A_replayed_proof_does_not_authenticate_a_new_connection()
    {
        // First connection: record what an honest primary proves.
        var (a1, b1) = InMemoryDuplexPipe.CreatePair();
        var tap = new Pipe();
        var recorder = new DuplexPipe(a1.Input, new TeeWriter(a1.Output, tap.Writer));
        var (p, s) = await OpenAsync(recorder, b1, Options(ChannelRole.Primary), Options(ChannelRole.Backup));
        await p.DisposeAsync();
        await s.DisposeAsync();
        await tap.Writer.CompleteAsync();
        var hello = await ReadFrameAsync(tap.Reader);
        var proof = await ReadFrameAsync(tap.Reader);
        Assert.Equal(FrameType.HelloAck, proof!.Value.Type);

        // Second connection: replay the same frames without knowing the secret.
        var (raw, b2) = InMemoryDuplexPipe.CreatePair();
        var accepting = LogChannel.AcceptAsync(b2, Options(ChannelRole.Backup));
        await WriteFrameAsync(raw.Output, Frame.Body(FrameType.Hello, hello!.Value.Payload));
        Assert.Equal(FrameType.Hello, (await ReadFrameAsync(raw.Input))!.Value.Type);
        await WriteFrameAsync(raw.Output, Frame.Body(FrameType.HelloAck, proof.Value.Payload));

        var failure = await Assert.ThrowsAsync<ChannelRejectedException>(() => accepting.WaitAsync(Patience));
        Assert.Equal(ChannelCloseCode.AuthenticationFailed, failure.Code);
    }

    [Fact]
    public void Hello_layout_is_magic_version_role_vm_id_machine_nonce()
    {
        var nonce = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var bytes = new HelloMessage(ChannelProtocol.Magic, 3, ChannelRole.Backup, VmId, 0x1122_3344_5566_7788, nonce).ToBytes();

        Assert.Equal(67, bytes.Length);
        Assert.Equal("VMFTCHAN", System.Text.Encoding.ASCII.GetString(bytes, 0, 8));
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)));
        Assert.Equal((byte)ChannelRole.Backup, bytes[10]);
        Assert.Equal(VmId, new Guid(bytes.AsSpan(11, 16)));
        Assert.Equal(0x1122_3344_5566_7788UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(27)));
        Assert.Equal(nonce, bytes[35..]);
        Assert.True(HelloMessage.TryParse(bytes, out var parsed, out _, out _));
        Assert.Equal(0x1122_3344_5566_7788UL, parsed.Machine);
        Assert.Equal(nonce, parsed.Nonce.ToArray());
    }

    [Fact]
    public async Task Nodes_that_started_different_machines_refuse_each_other_with_both_hashes()
    {
        var primary = Options(ChannelRole.Primary);
        var (connector, acceptor, _) = await RefusedAsync(
            new LogChannelOptions { VmId = primary.VmId, LocalRole = primary.LocalRole, SharedSecret = primary.SharedSecret, Machine = 0xAAAA },
            new LogChannelOptions { VmId = primary.VmId, LocalRole = ChannelRole.Backup, SharedSecret = primary.SharedSecret, Machine = 0xBBBB });

        Assert.Equal(ChannelCloseCode.WrongMachine, acceptor.Code);
        Assert.Equal(ChannelCloseCode.WrongMachine, connector.Code);
        Assert.Contains("000000000000aaaa", acceptor.Reason);
        Assert.Contains("000000000000bbbb", acceptor.Reason);
        Assert.Equal(acceptor.Reason, connector.Reason);
    }
}
