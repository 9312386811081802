using System.Diagnostics;
using Microsoft.Extensions.Logging;
using VmFt.Channel;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Hypervisor.FaultTolerance.Primary;

/// <summary>
/// Runs a live <see cref="PrimaryNode"/> in real time: steps the guest, ships each step's log to
/// the backup over the logging channel, feeds acks back (the output rule), exchanges messages with
/// the relay, and when the backup is lost asks the arbiter whether to continue alone or halt.
/// With no channel (a backup that went live) it runs alone from the start.
/// </summary>
public sealed class PrimaryHost(PrimaryNode node, LogChannel? channel, RelayEndpoint relay, WakeSignal wake, IArbiter arbiter, string vmId, ILoggerFactory logging)
{
    private readonly ILogger _log = logging.CreateLogger(PrimaryLog.Category);

    public PrimaryNode Node => node;

    public FtStatistics Statistics { get; } = new();

    /// <summary>When set (and a backup is attached): log <see cref="FtStatistics.Sample"/> this often.</summary>
    public TimeSpan? StatsInterval { get; init; }

    public async Task<NodeExit> RunAsync(CancellationToken cancellationToken)
    {
        bool haveBackup = channel is not null;
        ulong lastAck = 0;
        var sampleClock = Stopwatch.StartNew();
        if (channel is not null) _ = WakeOnAcksAsync(channel, cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            if (haveBackup && StatsInterval is { } every && sampleClock.Elapsed >= every)
            {
                sampleClock.Restart();
                PrimaryLog.Stats(_log, Statistics.Sample(node.Machine, channel));
            }
            if (relay.TakeNewConnection())
            {
                PrimaryLog.RelayReconnected(_log, node.NodeId);
                node.RelayReconnected();
            }
            while (relay.TryTake(out var message)) node.OnRelay(message);

            if (haveBackup)
            {
                if (channel!.AcknowledgedSequence is { } ack && ack > lastAck)
                {
                    lastAck = ack;
                    node.OnAck(ack);
                    Statistics.Acked(ack, node.Machine.Cpu.Position);
                }
                if (channel.Completion.IsCompleted)
                {
                    var closure = channel.Completion.Result;
                    if (!PeerLoss.MustContend(closure)) return NodeExit.Stopped; // this node closed it
                    haveBackup = false;
                    PrimaryLog.BackupLost(_log, node.NodeId, closure);
                    PrimaryLog.Summary(_log, Statistics.Summary(node.Machine));
                    ulong contested = node.Generation + 1;
                    if (!arbiter.TryAcquire(vmId, contested, node.NodeId))
                    {
                        PrimaryLog.LostArbiter(_log, node.NodeId, contested);
                        return NodeExit.Halted;
                    }
                    PrimaryLog.ContinuingAlone(_log, node.NodeId, contested);
                    node.ContinueAlone(contested);
                }
            }

            bool running = node.Step();
            var log = node.TakeLog();
            if (haveBackup && log.Count > 0)
            {
                try
                {
                    long bytes = await LogBlocks.SendAsync(channel!, log, cancellationToken).ConfigureAwait(false);
                    Statistics.Shipped(log, bytes);
                }
                catch (ChannelClosedException)
                {
                    // The completion says why; the next round handles it.
                }
            }
            foreach (var m in node.TakeRelayMessages()) relay.Send(m);

            if (!running)
            {
                // The guest exited: release the last output (the backup must have it first), then stop.
                if (haveBackup && node.Acked < node.LogEnd && !channel!.Completion.IsCompleted)
                {
                    await wake.WaitAsync(TimeSpan.FromMilliseconds(2), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                PrimaryLog.GuestExited(_log, node.NodeId, node.Exited);
                if (channel is not null) PrimaryLog.Summary(_log, Statistics.Summary(node.Machine));
                await Task.Delay(200, cancellationToken).ConfigureAwait(false); // let the relay take the last output
                if (channel is not null) await channel.CloseAsync("guest exited").ConfigureAwait(false);
                return NodeExit.GuestExited;
            }

            // Idle with client input the serial port can take: feed it at once. Waiting for the
            // timer here would pace input at one FIFO-full per tick (16 bytes per 10 ms).
            if (node.IdleUntil != 0 && !node.InputReady && !node.DiskReady)
            {
                // Idle: wait for the timer, input or an ack (each one wakes this loop).
                var wait = TimeSpan.FromMilliseconds(20);
                if (node.UntilTimer < wait) wait = node.UntilTimer;
                if (wait > TimeSpan.Zero) await wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            }
        }
        if (channel is not null) PrimaryLog.Summary(_log, Statistics.Summary(node.Machine));
        return NodeExit.Stopped;
    }

    /// <summary>Wakes the loop on every new acknowledgement (held output can go) and when the channel ends.</summary>
    private async Task WakeOnAcksAsync(LogChannel channel, CancellationToken cancellationToken)
    {
        try
        {
            ulong seen = 0;
            while (true)
            {
                await channel.WaitForAckAsync(seen + 1, cancellationToken).ConfigureAwait(false);
                seen = channel.AcknowledgedSequence ?? seen;
                wake.Set();
            }
        }
        catch (Exception e) when (e is ChannelClosedException or OperationCanceledException)
        {
            wake.Set();
        }
    }
}
