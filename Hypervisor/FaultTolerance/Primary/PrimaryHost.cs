using System.Diagnostics;
using Microsoft.Extensions.Logging;
using VmFt.Channel;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog.Events;

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

    /// <summary>
    /// Where backups join this node while it runs alone (after its backup was lost, or from the
    /// start); null: none can.
    /// </summary>
    public JoinAcceptor? Joins { get; init; }

    /// <summary>
    /// How far the guest may run beyond the oldest log event the backup has not acknowledged, in
    /// instructions; then it waits for acknowledgements. The backup acknowledges on receipt, but no
    /// further ahead of its replay than its own bound, so this is what makes a slow backup slow the
    /// primary: the send window fills only with a guest that logs fast, and a guest that computes
    /// and logs little could otherwise run seconds ahead of a starved backup, all of which a
    /// failover must replay before the new primary serves. 0: no bound.
    /// </summary>
    public ulong MaxLeadInstructions { get; init; } = DefaultMaxLeadInstructions;

    /// <summary>About 0.2 s of guest at full speed: a healthy backup's acknowledgements trail by far less; a starved one holds the primary here.</summary>
    public const ulong DefaultMaxLeadInstructions = 20_000_000;

    /// <summary>
    /// How long log that nothing waits for (no held output, no disk request) may wait to leave with
    /// later log: an idle guest's timer ticks then cost the pair a message and an acknowledgement per
    /// batch, not per tick, and a busy guest's per-step beacons leave a batch at a time. Log that
    /// covers held output always leaves at once, so the output rule waits no longer. The backup
    /// trails by up to this much more, which a failover does not pay for: log that never arrived is
    /// not replayed, the new primary just starts from an earlier position. Zero: every step ships.
    /// </summary>
    public TimeSpan LogBatchDelay { get; init; } = DefaultLogBatchDelay;

    public static readonly TimeSpan DefaultLogBatchDelay = TimeSpan.FromMilliseconds(50);

    private bool MustShip(bool running) =>
        !running || node.AwaitsAcknowledgement || _unshipped.Count >= MaxUnshippedEvents || UntilShipped <= TimeSpan.Zero;

    /// <summary>Most log events kept back for a batch: a busy guest's log leaves at least this often.</summary>
    public const int MaxUnshippedEvents = 4096;

    private TimeSpan UntilShipped => LogBatchDelay - Stopwatch.GetElapsedTime(_unshippedSince);

    // The logging channel to the backup this node counts for the output rule (the first, or one that joined).
    private LogChannel? _channel = channel;
    private readonly LogChannel? _first = channel;
    private PrimaryJoin? _join;
    private long? _exitDeadline; // after the guest exited: how long the relay gets to take the last output
    // Log taken from the node and not yet shipped (nothing waits for it yet), and since when.
    private readonly List<LogEvent> _unshipped = [];
    private long _unshippedSince;

    /// <summary>How long a node whose guest exited waits for the relay to take its last output.</summary>
    public static readonly TimeSpan RelayTakesLastOutput = TimeSpan.FromSeconds(30);

    public async Task<NodeExit> RunAsync(CancellationToken cancellationToken)
    {
        bool haveBackup = _channel is not null;
        ulong lastAck = 0;
        var sampleClock = Stopwatch.StartNew();
        if (_channel is not null) _channel.Arrived = wake.Set; // acknowledgements and the channel's end wake the loop
        if (Joins is not null) Joins.Wake = wake;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (haveBackup && StatsInterval is { } every && sampleClock.Elapsed >= every)
            {
                sampleClock.Restart();
                PrimaryLog.Stats(_log, Statistics.Sample(node.Machine, _channel));
            }
            if (relay.TakeNewConnection())
            {
                PrimaryLog.RelayReconnected(_log, node.NodeId);
                node.RelayReconnected();
            }
            while (relay.TryTake(out var message)) node.OnRelay(message);

            if (haveBackup)
            {
                if (_channel!.AcknowledgedSequence is { } ack && ack > lastAck)
                {
                    lastAck = ack;
                    node.OnAck(ack);
                    Statistics.Acked(ack, node.Machine.Cpu.Position);
                }
                if (_channel.Completion.IsCompleted)
                {
                    var closure = _channel.Completion.Result;
                    if (!PeerLoss.MustContend(closure)) return NodeExit.Stopped; // this node closed it
                    haveBackup = false;
                    Statistics.BackupLost();
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
                    if (_channel != _first) _ = _channel.DisposeAsync().AsTask(); // a joined one is this host's own
                }
            }
            if (await ServeJoinsAsync(haveBackup, cancellationToken).ConfigureAwait(false))
            {
                haveBackup = true;
                lastAck = 0;
                _channel!.Arrived = wake.Set;
            }

            if (haveBackup && MaxLeadInstructions > 0 && Lead(node.Machine.Cpu.Position) >= MaxLeadInstructions
                && !_channel!.Completion.IsCompleted)
            {
                if (_unshipped.Count > 0) await ShipAsync(cancellationToken).ConfigureAwait(false); // the backup cannot acknowledge what it has not got
                // Too far ahead of the backup: wait for an acknowledgement (each one wakes this loop).
                long stalled = Stopwatch.GetTimestamp();
                await wake.WaitAsync(TimeSpan.FromMilliseconds(2), cancellationToken).ConfigureAwait(false);
                Statistics.LeadStalled(Stopwatch.GetElapsedTime(stalled).TotalMilliseconds);
                continue;
            }

            bool running = node.Step();
            var log = node.TakeLog();
            if (!haveBackup) _unshipped.Clear(); // alone: nobody will replay it
            else if (log.Count > 0)
            {
                if (_unshipped.Count == 0) _unshippedSince = Stopwatch.GetTimestamp();
                _unshipped.AddRange(log);
            }
            if (haveBackup && _unshipped.Count > 0 && MustShip(running)) await ShipAsync(cancellationToken).ConfigureAwait(false);
            foreach (var m in node.TakeRelayMessages()) relay.Send(m);

            if (!running)
            {
                // The guest exited: release the last output (the backup must have it first), then stop.
                if (haveBackup && node.Acked < node.LogEnd && !_channel!.Completion.IsCompleted)
                {
                    await wake.WaitAsync(TimeSpan.FromMilliseconds(2), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                // The relay must have the last output before this node goes: a guest that ends
                // quickly can end before the relay has even connected, and a fixed pause lost it then.
                _exitDeadline ??= Environment.TickCount64 + (long)RelayTakesLastOutput.TotalMilliseconds;
                if (!node.RelayHasAllOutput && Environment.TickCount64 < _exitDeadline)
                {
                    await wake.WaitAsync(TimeSpan.FromMilliseconds(2), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                PrimaryLog.GuestExited(_log, node.NodeId, node.Exited);
                if (!node.RelayHasAllOutput) PrimaryLog.OutputNotTaken(_log, node.NodeId, node.RelayHas, node.Released, (long)RelayTakesLastOutput.TotalSeconds);
                if (_channel is not null) PrimaryLog.Summary(_log, Statistics.Summary(node.Machine));
                if (_channel is not null) await _channel.CloseAsync("guest exited").ConfigureAwait(false);
                if (_join is not null) await _join.Channel.CloseAsync("guest exited").ConfigureAwait(false);
                return NodeExit.GuestExited;
            }

            // Idle with client input the serial port can take: feed it at once. Waiting for the
            // timer here would pace input at one FIFO-full per tick (16 bytes per 10 ms).
            if (node.IdleUntil != 0 && !node.InputReady && !node.DiskReady)
            {
                // Idle: wait for the timer, input or an ack (each one wakes this loop).
                var wait = TimeSpan.FromMilliseconds(20);
                if (node.UntilTimer < wait) wait = node.UntilTimer;
                if (haveBackup && _unshipped.Count > 0 && UntilShipped < wait) wait = UntilShipped;
                if (wait > TimeSpan.Zero) await wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            }
        }
        if (_channel is not null) PrimaryLog.Summary(_log, Statistics.Summary(node.Machine));
        return NodeExit.Stopped;
    }

    /// <summary>
    /// Between two steps of a node without a backup: takes joining backups (one at a time; others
    /// are refused), copies a little of the machine to the one joining, and once the copy is
    /// complete makes it this node's backup. True when a backup was attached just now.
    /// </summary>
    private async Task<bool> ServeJoinsAsync(bool haveBackup, CancellationToken cancellationToken)
    {
        if (Joins is null) return false;
        while (Joins.TryTake(out var joining, out var peer))
        {
            if (haveBackup || _join is not null || node.Exited is not null || node.Machine.Network is not null)
            {
                string reason = haveBackup ? "a backup is attached already"
                    : node.Machine.Network is not null ? "the guest has a network card, and a joining backup does not take its frame streams yet"
                    : _join is not null ? $"another backup is joining (from {_join.Peer})" : "the guest has exited";
                PrimaryLog.JoinRefused(_log, node.NodeId, peer, reason);
                _ = RefuseAsync(joining, reason);
                continue;
            }
            PrimaryLog.JoinStarted(_log, node.NodeId, peer);
            _join = new PrimaryJoin(joining, peer, node.Machine, wake, cancellationToken);
        }
        if (_join is null || haveBackup) return false;
        var join = _join;
        if (join.Channel.Completion.IsCompleted)
        {
            Abandon(join, join.Channel.Completion.Result.ToString());
            return false;
        }
        JoinFigures figures;
        try
        {
            if (!join.PreCopyDone()) return false;
            // Once attached the backup may hold the state: if the channel fails after that, this
            // node contends for the next generation like for any backup it loses.
            figures = await join.StopAndCopyAsync(node, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e) when (!join.Attached)
        {
            Abandon(join, e.Message);
            return false;
        }
        _join = null;
        _channel = join.Channel;
        PrimaryLog.Joined(_log, node.NodeId, join.Peer, node.Generation, figures);
        return true;
    }

    // A join's copy task may still be sending into the closed channel: it ends with it.
    private void Abandon(PrimaryJoin join, string reason)
    {
        PrimaryLog.JoinAbandoned(_log, node.NodeId, join.Peer, reason);
        _join = null;
        _ = join.Channel.DisposeAsync().AsTask();
    }

    /// <summary>Sends the log not yet shipped to the backup.</summary>
    private async Task ShipAsync(CancellationToken cancellationToken)
    {
        try
        {
            long bytes = await LogBlocks.SendAsync(_channel!, _unshipped, cancellationToken).ConfigureAwait(false);
            Statistics.Shipped(_unshipped, bytes);
        }
        catch (ChannelClosedException)
        {
            // The completion says why; the next round handles it.
        }
        _unshipped.Clear();
    }

    /// <summary>How far the guest is past the oldest log event the backup has not acknowledged, shipped or not.</summary>
    private ulong Lead(ulong position) =>
        Math.Max(Statistics.CurrentLagInstructions(position), _unshipped.Count > 0 ? position - _unshipped[0].Position : 0);

    /// <summary>Tells a joining backup why not, then drops its channel.</summary>
    private static async Task RefuseAsync(LogChannel joining, string reason)
    {
        await joining.CloseAsync(ChannelCloseCode.BackupAttached, reason).ConfigureAwait(false);
        await joining.DisposeAsync().ConfigureAwait(false);
    }
}
