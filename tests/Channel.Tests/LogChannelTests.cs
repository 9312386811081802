using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using VmFt.Channel.Framing;
using VmFt.Channel.Handshake;
using VmFt.Channel.Transport;
using static VmFt.Channel.Tests.ChannelTestKit;

namespace VmFt.Channel.Tests;

public class LogChannelTests
{
    private static async Task<(LogChannel Primary, LogChannel Backup)> OpenPairAsync(long window = 8 << 20)
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        return await OpenAsync(a, b, Options(ChannelRole.Primary, window: window), Options(ChannelRole.Backup));
    }

    [Fact]
    public async Task Log_data_arrives_in_order_and_acks_release_the_primary()
    {
        var (primary, backup) = await OpenPairAsync();
        await using var _p = primary;
        await using var _b = backup;

        await primary.SendLogAsync(10, new byte[] { 1, 2, 3 });
        await primary.SendLogAsync(11, new byte[] { 4 });
        await primary.SendLogAsync(15, new byte[] { 5, 6 });
        Assert.Equal(6, primary.UnacknowledgedBytes);

        var received = new List<LogSegment>();
        for (int i = 0; i < 3; i++)
            received.Add(await backup.ReceivedLog.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(new ulong[] { 10, 11, 15 }, received.Select(s => s.LastSequence));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, received.SelectMany(s => s.Bytes.ToArray()));

        var waiting = primary.WaitForAckAsync(15);
        await backup.SendAckAsync(11);
        Assert.True(await EventuallyAsync(() => primary.AcknowledgedSequence == 11));
        Assert.Equal(2, primary.UnacknowledgedBytes);
        Assert.False(waiting.IsCompleted);

        await backup.SendAckAsync(15);
        await waiting.WaitAsync(Patience);
        Assert.Equal(0, primary.UnacknowledgedBytes);
    }

    [Fact]
    public async Task Machine_state_arrives_in_order_before_the_log_and_only_from_the_primary()
    {
        var (primary, backup) = await OpenPairAsync();
        await using var _p = primary;
        await using var _b = backup;

        await primary.SendStateAsync(1, new byte[] { 1, 2 });
        await primary.SendStateAsync(3, new byte[] { 3 });
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await backup.SendStateAsync(1, new byte[] { 0 }));
        await primary.SendLogAsync(7, new byte[] { 4 });
        // State after log data would start the copy anew on a backup that already replays: never.
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await primary.SendStateAsync(1, new byte[] { 5 }));

        var first = await backup.ReceivedState.ReadAsync().AsTask().WaitAsync(Patience);
        var second = await backup.ReceivedState.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal(1ul, first.Kind);
        Assert.Equal(new byte[] { 1, 2 }, first.Bytes.ToArray());
        Assert.Equal(3ul, second.Kind);
        Assert.Equal(new byte[] { 3 }, second.Bytes.ToArray());
        var log = await backup.ReceivedLog.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal(7ul, log.LastSequence);
        Assert.False(backup.ReceivedState.TryRead(out _));
        Assert.True(backup.IsOpen);
    }

    [Fact]
    public async Task A_close_code_reaches_the_peer_with_its_reason()
    {
        var (primary, backup) = await OpenPairAsync();
        await using var _b = backup;
        await primary.CloseAsync(ChannelCloseCode.BackupAttached, "a backup is attached already");
        await using var _p = primary;

        var closure = await backup.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.PeerGoodbye, closure.Reason);
        Assert.Equal(ChannelCloseCode.BackupAttached, closure.Code);
        Assert.Equal("a backup is attached already", closure.Message);
        // The backup's state reader ends too, so a joiner waiting for state learns the channel closed.
        Assert.False(await backup.ReceivedState.WaitToReadAsync().AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Heartbeats_carry_positions_both_ways()
    {
        var (primary, backup) = await OpenPairAsync();
        await using var _p = primary;
        await using var _b = backup;

        primary.LocalPosition = 1_000_000;
        backup.LocalPosition = 999_000;

        Assert.True(await EventuallyAsync(() => backup.PeerPosition == 1_000_000));
        Assert.True(await EventuallyAsync(() => primary.PeerPosition == 999_000));
    }

    [Fact]
    public async Task A_partitioned_peer_is_declared_dead_on_both_sides()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var faulty = new FaultInjectingPipe(a);
        var timeout = TimeSpan.FromMilliseconds(600);
        var log = new CapturingLogger();
        var accepting = LogChannel.AcceptAsync(b, Options(ChannelRole.Backup, peerTimeout: timeout), log);
        var primary = await LogChannel.ConnectAsync(faulty, Options(ChannelRole.Primary, peerTimeout: timeout)).WaitAsync(Patience);
        var backup = await accepting.WaitAsync(Patience);

        var clock = Stopwatch.StartNew();
        faulty.Partition();
        var onBackup = await backup.Completion.WaitAsync(Patience);
        var onPrimary = await primary.Completion.WaitAsync(Patience);

        Assert.Equal(ChannelCloseReason.PeerSilent, onBackup.Reason);
        Assert.Equal(ChannelCloseReason.PeerSilent, onPrimary.Reason);
        Assert.True(onBackup.PeerLost);
        // Never before the timeout: heartbeats were flowing until the partition.
        Assert.True(clock.Elapsed >= timeout * 0.9, $"declared dead after {clock.Elapsed}");
        Assert.True(log.Has(4004, "declared dead"));
        Assert.True(faulty.DiscardedBytes > 0);
        await primary.DisposeAsync();
        await backup.DisposeAsync();
        await faulty.DisposeAsync();
    }

    [Fact]
    public async Task Heartbeats_keep_an_idle_channel_alive()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        // Twenty heartbeats per timeout: only a very long stall of the whole machine could break this.
        var timeout = TimeSpan.FromSeconds(2);
        var heartbeat = TimeSpan.FromMilliseconds(100);
        var (primary, backup) = await OpenAsync(a, b,
            Options(ChannelRole.Primary, peerTimeout: timeout, heartbeat: heartbeat),
            Options(ChannelRole.Backup, peerTimeout: timeout, heartbeat: heartbeat));
        await using var _p = primary;
        await using var _b = backup;

        await Task.Delay(TimeSpan.FromSeconds(3.5));

        Assert.False(primary.Completion.IsCompleted, primary.Completion.IsCompleted ? (await primary.Completion).ToString() : "");
        Assert.False(backup.Completion.IsCompleted, backup.Completion.IsCompleted ? (await backup.Completion).ToString() : "");
    }

    [Fact]
    public async Task A_full_window_stalls_the_sender_until_acks_arrive()
    {
        var (primary, backup) = await OpenPairAsync(window: 1000);
        await using var _p = primary;
        await using var _b = backup;

        await primary.SendLogAsync(1, new byte[600]).AsTask().WaitAsync(Patience);
        await primary.SendLogAsync(2, new byte[600]).AsTask().WaitAsync(Patience);
        var third = primary.SendLogAsync(3, new byte[600]).AsTask();
        await Task.Delay(300);
        Assert.False(third.IsCompleted);
        Assert.Equal(1200, primary.UnacknowledgedBytes);

        await backup.SendAckAsync(1);
        await third.WaitAsync(Patience);
        Assert.Equal(1200, primary.UnacknowledgedBytes);
        for (int i = 0; i < 3; i++)
            await backup.ReceivedLog.ReadAsync().AsTask().WaitAsync(Patience);

        await backup.SendAckAsync(3);
        Assert.True(await EventuallyAsync(() => primary.UnacknowledgedBytes == 0));
        await primary.WaitForWindowAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task A_stalled_transport_pushes_back_on_the_sender_through_the_pipe()
    {
        var small = new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 4096, resumeWriterThreshold: 2048, useSynchronizationContext: false);
        var (a, b) = InMemoryDuplexPipe.CreatePair(small);
        var faulty = new FaultInjectingPipe(a, options: small);
        var log = new CapturingLogger();
        var accepting = LogChannel.AcceptAsync(b, Options(ChannelRole.Backup));
        await using var primary = await LogChannel.ConnectAsync(faulty, Options(ChannelRole.Primary), log).WaitAsync(Patience);
        await using var backup = await accepting.WaitAsync(Patience);

        faulty.Pause();
        const int Count = 1000;
        var sending = Task.Run(async () =>
        {
            for (ulong seq = 1; seq <= Count; seq++)
                await primary.SendLogAsync(seq, new byte[1000]);
        });
        Assert.True(await EventuallyAsync(() => log.Has(4011, "paused")));
        Assert.False(sending.IsCompleted);

        faulty.Resume();
        await sending.WaitAsync(Patience);
        int received = 0;
        while (received < Count)
        {
            await backup.ReceivedLog.ReadAsync().AsTask().WaitAsync(Patience);
            received++;
        }
        Assert.True(log.Has(4012, "resumed"));
        await faulty.DisposeAsync();
    }

    [Fact]
    public async Task Blocked_sender_is_released_with_an_error_when_the_peer_dies()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var faulty = new FaultInjectingPipe(b);
        var (primary, backup) = await OpenAsync(a, faulty, Options(ChannelRole.Primary, window: 100), Options(ChannelRole.Backup));
        await using var _p = primary;
        await using var _b = backup;
        await primary.SendLogAsync(1, new byte[200]);
        var blocked = primary.SendLogAsync(2, new byte[1]).AsTask();

        faulty.Drop();

        var e = await Assert.ThrowsAsync<ChannelClosedException>(() => blocked.WaitAsync(Patience));
        Assert.True(e.Closure.PeerLost);
        Assert.Equal(ChannelCloseReason.TransportFailed, (await backup.Completion.WaitAsync(Patience)).Reason);
    }

    [Fact]
    public async Task Sender_refuses_a_sequence_that_does_not_rise()
    {
        var (primary, backup) = await OpenPairAsync();
        await using var _p = primary;
        await using var _b = backup;
        await primary.SendLogAsync(5, new byte[] { 1 });

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await primary.SendLogAsync(5, new byte[] { 2 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await primary.SendLogAsync(4, new byte[] { 2 }));
        Assert.True(primary.IsOpen);
        await primary.SendLogAsync(6, new byte[] { 3 });
        Assert.Equal(2, primary.UnacknowledgedBytes);
    }

    [Fact]
    public async Task Roles_are_enforced_locally()
    {
        var (primary, backup) = await OpenPairAsync();
        await using var _p = primary;
        await using var _b = backup;

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await backup.SendLogAsync(1, new byte[1]));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await primary.SendAckAsync(1));
    }

    /// <summary>A hand-made primary that passed the real handshake and then writes raw frames.</summary>
    private static async Task<(System.IO.Pipelines.IDuplexPipe Raw, LogChannel Backup)> RawPrimaryAsync()
    {
        var (raw, b) = InMemoryDuplexPipe.CreatePair();
        var accepting = LogChannel.AcceptAsync(b, Options(ChannelRole.Backup));
        await ChannelHandshake.InitiateAsync(raw, Options(ChannelRole.Primary), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, default);
        return (raw, await accepting.WaitAsync(Patience));
    }

    [Fact]
    public async Task Log_sequence_going_backwards_closes_the_channel_with_the_reason()
    {
        var (raw, backup) = await RawPrimaryAsync();
        await using var _b = backup;

        await WriteFrameAsync(raw.Output, Frame.LogData(5, new byte[] { 1 }));
        await WriteFrameAsync(raw.Output, Frame.LogData(3, new byte[] { 2 }));

        var closure = await backup.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.ProtocolError, closure.Reason);
        Assert.Equal(ChannelCloseCode.SequenceOutOfOrder, closure.Code);
        Assert.Contains("3 does not follow 5", closure.Message);

        // Only the good segment was applied, then the log ends so a backup can drain it.
        var applied = new List<ulong>();
        await foreach (var segment in backup.ReceivedLog.ReadAllAsync().WithCancellation(new CancellationTokenSource(Patience).Token))
            applied.Add(segment.LastSequence);
        Assert.Equal(new ulong[] { 5 }, applied);

        // The peer is told why.
        (FrameType Type, ulong Value, byte[] Payload)? frame;
        do
            frame = await ReadFrameAsync(raw.Input);
        while (frame is { Type: FrameType.Heartbeat });
        Assert.Equal(FrameType.Goodbye, frame!.Value.Type);
        var (code, reason) = CloseMessage.Decode(new ReadOnlySequence<byte>(frame.Value.Payload));
        Assert.Equal(ChannelCloseCode.SequenceOutOfOrder, code);
        Assert.Contains("out of order", reason);
    }

    [Fact]
    public async Task A_repeated_log_sequence_is_refused()
    {
        var (raw, backup) = await RawPrimaryAsync();
        await using var _b = backup;

        await WriteFrameAsync(raw.Output, Frame.LogData(9, new byte[] { 1 }));
        await WriteFrameAsync(raw.Output, Frame.LogData(9, new byte[] { 1 }));

        Assert.Equal(ChannelCloseCode.SequenceOutOfOrder, (await backup.Completion.WaitAsync(Patience)).Code);
    }

    [Fact]
    public async Task An_ack_for_log_never_sent_is_a_protocol_error()
    {
        var (raw, b) = InMemoryDuplexPipe.CreatePair();
        var connecting = LogChannel.ConnectAsync(b, Options(ChannelRole.Primary));
        await ChannelHandshake.RespondAsync(raw, Options(ChannelRole.Backup), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, default);
        await using var primary = await connecting.WaitAsync(Patience);
        await primary.SendLogAsync(4, new byte[] { 1 });

        await WriteFrameAsync(raw.Output, Frame.Ack(8));

        var closure = await primary.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.ProtocolError, closure.Reason);
        Assert.Contains("only 4 was sent", closure.Message);
    }

    [Fact]
    public async Task A_malformed_frame_after_the_handshake_closes_the_channel()
    {
        var (raw, backup) = await RawPrimaryAsync();
        await using var _b = backup;

        await raw.Output.WriteAsync(new byte[] { 0xEE, 0, 0, 0, 0 });

        var closure = await backup.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.ProtocolError, closure.Reason);
        Assert.Contains("unknown frame type 0xEE", closure.Message);
    }

    [Fact]
    public async Task Goodbye_ends_both_sides_without_declaring_the_peer_dead()
    {
        var (primary, backup) = await OpenPairAsync();
        await using var _b = backup;

        await primary.CloseAsync("maintenance");

        var closure = await backup.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.PeerGoodbye, closure.Reason);
        Assert.Equal("maintenance", closure.Message);
        Assert.False(closure.PeerLost);
        Assert.Equal(ChannelCloseReason.LocalClose, (await primary.Completion).Reason);
        await Assert.ThrowsAsync<ChannelClosedException>(async () => await primary.SendLogAsync(1, new byte[1]));
        await primary.DisposeAsync();
    }

    [Fact]
    public async Task A_dropped_connection_is_a_lost_peer_on_both_sides()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var faulty = new FaultInjectingPipe(a);
        var (primary, backup) = await OpenAsync(faulty, b, Options(ChannelRole.Primary), Options(ChannelRole.Backup));
        await using var _p = primary;
        await using var _b = backup;

        faulty.Drop();

        Assert.True((await primary.Completion.WaitAsync(Patience)).PeerLost);
        Assert.True((await backup.Completion.WaitAsync(Patience)).PeerLost);
    }

    [Fact]
    public async Task A_peer_that_dies_in_the_middle_of_a_frame_is_a_lost_peer_not_a_protocol_error()
    {
        // A primary SIGKILLed while writing a log frame: the kernel delivers what it had written, then closes.
        var (raw, backup) = await RawPrimaryAsync();
        await using var _b = backup;
        var bytes = new ArrayBufferWriter<byte>();
        FrameCodec.WriteFrame(Frame.LogData(1, new byte[200]), bytes);

        await raw.Output.WriteAsync(bytes.WrittenMemory[..57]);
        await raw.Output.CompleteAsync();

        var closure = await backup.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.TransportFailed, closure.Reason);
        Assert.True(closure.PeerLost);
        Assert.Equal("connection closed by the peer without a goodbye, inside a frame (57 bytes of it arrived)", closure.Message);
    }

    [Fact]
    public async Task Time_this_node_stood_still_is_not_held_against_the_peer()
    {
        // A backup starved of CPU (or stopped) for 2 s: when its watchdog runs again the peer has been
        // silent for 2 s of wall time, but this node was not running to hear it. Only the silence
        // while it runs counts, so the peer is declared dead after the timeout of running time.
        var time = new SteppedTimeProvider();
        var (raw, b) = InMemoryDuplexPipe.CreatePair();
        var options = Options(ChannelRole.Backup, peerTimeout: TimeSpan.FromMilliseconds(500), time: time);
        var accepting = LogChannel.AcceptAsync(b, options);
        await ChannelHandshake.InitiateAsync(raw, Options(ChannelRole.Primary), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, default);
        await using var backup = await accepting.WaitAsync(Patience);
        Assert.True(await EventuallyAsync(() => time.TimerCount == 2), "the heartbeat and the watchdog did not start");

        time.Tick(TimeSpan.FromSeconds(2)); // one late watchdog tick: 1.9 s of it this node's own
        Assert.True(await EventuallyAsync(() => backup.PeerSilenceWhileRunning < TimeSpan.FromSeconds(1)), "the watchdog did not note its own stall");
        await Task.Delay(100);
        Assert.False(backup.Completion.IsCompleted, "declared dead after its own stall");
        Assert.True(backup.PeerSilence >= TimeSpan.FromSeconds(2));
        Assert.True(backup.PeerSilenceWhileRunning <= TimeSpan.FromMilliseconds(200), backup.PeerSilenceWhileRunning.ToString());

        // On-time ticks: the silence now counts. A tick the loop misses only makes the next one look
        // late (a stall, which delays the verdict), so the bound is generous, not tight.
        for (int i = 0; i < 60 && !backup.Completion.IsCompleted; i++)
        {
            time.Tick(TimeSpan.FromMilliseconds(100));
            await Task.Delay(50);
        }
        var closure = await backup.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.PeerSilent, closure.Reason);
        Assert.Contains("ms of it while this node stood still", closure.Message);
        Assert.True(backup.PeerSilence > TimeSpan.FromSeconds(2.4));
    }

    /// <summary>A transport whose peer's bytes wait in the socket: the test says how many arrived, the reader sees none.</summary>
    private sealed class UnreadSocket(IDuplexPipe inner) : IDuplexPipe, IInputArrival
    {
        public long Arrived;
        public PipeReader Input => inner.Input;
        public PipeWriter Output => inner.Output;
        public long BytesArrived => Interlocked.Read(ref Arrived);
    }

    [Fact]
    public async Task Bytes_waiting_unread_in_the_socket_are_the_peer_speaking()
    {
        // A backup whose reader gets no CPU while its watchdog runs: the primary's heartbeats reach
        // the socket and wait there. The watchdog counts them as hearing the primary, so 3 s pass
        // without a verdict; once nothing more arrives, the timeout runs as usual.
        var time = new SteppedTimeProvider();
        var (raw, b) = InMemoryDuplexPipe.CreatePair();
        var socket = new UnreadSocket(b);
        var options = Options(ChannelRole.Backup, peerTimeout: TimeSpan.FromMilliseconds(500), time: time);
        var accepting = LogChannel.AcceptAsync(socket, options);
        await ChannelHandshake.InitiateAsync(raw, Options(ChannelRole.Primary), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, default);
        await using var backup = await accepting.WaitAsync(Patience);
        Assert.True(await EventuallyAsync(() => time.TimerCount == 2), "the heartbeat and the watchdog did not start");

        for (int i = 0; i < 30; i++)
        {
            Interlocked.Add(ref socket.Arrived, 13); // a heartbeat frame's worth
            time.Tick(TimeSpan.FromMilliseconds(100));
            await Task.Delay(20);
        }
        Assert.False(backup.Completion.IsCompleted, "declared dead while the peer's bytes kept arriving");
        Assert.True(backup.PeerSilence < TimeSpan.FromMilliseconds(500), backup.PeerSilence.ToString());

        for (int i = 0; i < 60 && !backup.Completion.IsCompleted; i++)
        {
            time.Tick(TimeSpan.FromMilliseconds(100));
            await Task.Delay(50);
        }
        var closure = await backup.Completion.WaitAsync(Patience);
        Assert.Equal(ChannelCloseReason.PeerSilent, closure.Reason);
    }
}
