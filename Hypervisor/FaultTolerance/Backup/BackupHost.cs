using System.Globalization;
using Microsoft.Extensions.Logging;
using VmFt.Channel;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Format;

namespace VmFt.Hypervisor.FaultTolerance.Backup;

/// <summary>
/// Runs a <see cref="BackupNode"/>: takes log blocks off the channel, acknowledges them as they
/// arrive, replays them in slices, and passes the relay's delivery confirmations on. When the
/// primary goes silent or its connection fails: arbiter for the primary's generation + 1, drain, go
/// live as that generation and carry on as a primary alone.
/// </summary>
public sealed class BackupHost(BackupNode node, LogChannel channel, RelayEndpoint relay, WakeSignal wake, IArbiter arbiter, string vmId, ILoggerFactory logging)
{
    private readonly ILogger _log = logging.CreateLogger(BackupLog.Category);

    /// <summary>Slice of the primary this node becomes.</summary>
    public ulong SliceInstructions { get; init; } = 20_000;

    /// <summary>The shared disk this node serves once live (as a backup it never touches it: the primary's log carries the reads).</summary>
    public Storage.IDiskBackend? Disk { get; init; }

    /// <summary>Most instructions replayed between two looks at the channel (new log to acknowledge, the primary's end).</summary>
    public ulong ReplaySliceInstructions { get; init; } = 200_000;

    /// <summary>
    /// The lag bound in replay time (<see cref="ReplayPace"/>): the acknowledgements wait for the
    /// replay once the lag would take longer than this to replay at the speed measured here. Null:
    /// the bound in instructions alone.
    /// </summary>
    public TimeSpan? MaxLagTime { get; init; }

    /// <summary>Where backups join this node once it went live (null: none can).</summary>
    public JoinAcceptor? Joins { get; init; }

    /// <summary>Set once the node went live.</summary>
    public PrimaryNode? Live { get; private set; }

    public async Task<NodeExit> RunAsync(CancellationToken cancellationToken)
    {
        ulong lastAck = node.Acknowledge(); // a joined backup starts where the primary's log goes on: nothing to acknowledge yet
        var pace = MaxLagTime is { } target ? new ReplayPace(target) : null;
        // Log arriving and the channel's end wake the loop from the channel's receive path.
        channel.Arrived = wake.Set;

        while (!cancellationToken.IsCancellationRequested)
        {
            // Acknowledge on receipt, not after the replay: the output rule needs the backup to
            // have the log, and the primary's output waits for exactly this.
            Receive();
            lastAck = await AcknowledgeAsync(lastAck, cancellationToken).ConfigureAwait(false);
            while (relay.TryTake(out var message)) node.OnRelay(message);
            relay.TakeNewConnection(); // a backup has nothing to announce
            bool behind = Replay(pace);
            lastAck = await AcknowledgeAsync(lastAck, cancellationToken).ConfigureAwait(false);
            // A backup that replayed to the guest's exit stays until the primary closes the channel
            // in order: the primary does that once the relay holds its last output, and if it dies
            // before, this node must hand that output over instead.
            if (channel.Completion.IsCompleted)
            {
                var closure = channel.Completion.Result;
                if (PeerLoss.PrimaryFinished(closure))
                {
                    Receive();
                    node.Step();
                    if (node.PrimaryExited)
                    {
                        BackupLog.PrimaryGuestExited(_log, node.NodeId, node.Replayed);
                        return NodeExit.GuestExited;
                    }
                }
                return PeerLoss.MustContend(closure) ? await FailOverAsync(closure, cancellationToken).ConfigureAwait(false) : NodeExit.Stopped;
            }
            if (!behind) await wake.WaitAsync(TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
        }
        return NodeExit.Stopped;
    }

    /// <summary>One slice of replay, timed into <paramref name="pace"/>, whose bound then applies. True if log remains unreplayed.</summary>
    private bool Replay(ReplayPace? pace)
    {
        if (pace is null) return node.Step(ReplaySliceInstructions);
        ulong before = node.Machine.Cpu.Position;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        bool behind = node.Step(ReplaySliceInstructions);
        pace.Observe(node.Machine.Cpu.Position - before, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        node.PacedReplayLag = pace.Bound(node.MaxReplayLag);
        return behind;
    }

    /// <summary>Sends what <see cref="BackupNode.Acknowledge"/> allows, if it is new; returns the acknowledged sequence.</summary>
    private async Task<ulong> AcknowledgeAsync(ulong lastAck, CancellationToken cancellationToken)
    {
        ulong ack = node.Acknowledge();
        if (ack <= lastAck || !channel.IsOpen) return lastAck;
        try
        {
            await channel.SendAckAsync(ack, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
        }
        return ack;
    }

    private void Receive()
    {
        while (channel.ReceivedLog.TryRead(out var segment))
        {
            try
            {
                node.OnLog(LogBlocks.Decode(segment));
            }
            catch (LogFormatException e)
            {
                throw new InvalidDataException($"log from the primary is corrupt: {e.Message}", e);
            }
        }
    }

    private async Task<NodeExit> FailOverAsync(ChannelClosure closure, CancellationToken cancellationToken)
    {
        BackupLog.PrimaryLost(_log, node.NodeId, closure);
        var failover = System.Diagnostics.Stopwatch.StartNew();
        Receive(); // everything that arrived before the end
        ulong contested = node.PrimaryGeneration + 1;
        if (!arbiter.TryAcquire(vmId, contested, node.NodeId))
        {
            BackupLog.LostArbiter(_log, node.NodeId, contested);
            return NodeExit.Halted;
        }
        BackupLog.WonArbiter(_log, node.NodeId, contested);
        node.Step();
        // A guest that had exited still has output the dead primary may not have handed to the
        // relay: this node goes live to do that (its host ends once the relay holds it all).
        if (node.PrimaryExited) BackupLog.LiveToHandOverOutput(_log, node.NodeId);
        BackupLog.Drained(_log, node.NodeId, node.Replayed, node.Machine.Cpu.Position);
        if (node.Machine.Disk is { Pending.Count: > 0 } device)
        {
            var pending = device.Pending;
            int writes = 0;
            foreach (var r in pending) if (r.Kind != Guest.Devices.Virtio.DiskRequestKind.Read) writes++;
            BackupLog.Reissuing(_log, node.NodeId, pending.Count, writes);
        }
        var live = node.GoLive(contested, SliceInstructions, ClockMode.Realtime, Disk);
        live.ContinueAlone(contested); // no new backup yet: redundancy is restored by a repair, not here
        Live = live;
        BackupLog.Live(_log, node.NodeId, contested, live.InputEnd, failover.Elapsed.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture));
        Joins?.Start(cancellationToken);
        var host = new PrimaryHost(live, null, relay, wake, arbiter, vmId, logging) { Joins = Joins };
        return await host.RunAsync(cancellationToken).ConfigureAwait(false);
    }
}
