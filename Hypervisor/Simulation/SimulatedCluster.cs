using System.Text;
using VmFt.Channel;
using VmFt.Channel.Framing;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.Hypervisor.Storage;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// One simulated run's world: primary A, backup B (or the primary it became), the relay, the
/// arbiter, the logging channel between A and B (a byte stream each way, framed and judged as the
/// real channel is: <see cref="SimulatedChannel"/>), the four relay links and the client, stepped on
/// one clock. Injectors (<see cref="SimulatedFaults"/>) act on it through the fault operations
/// below; the run checks the output rule, the one-live-node rule and availability at every step.
/// </summary>
public sealed class SimulatedCluster
{
    private readonly SimulationOptions _options;
    private readonly InMemoryArbiter _arbiter = new();
    private readonly RelayCore _relay = new();
    private readonly StringBuilder _transcript = new();
    private readonly OutputStream _aOutput = new() { History = [] };
    private readonly OutputStream _bOutput = new() { History = [] };
    private readonly PrimaryNode _a;
    private readonly BackupNode _b;
    private readonly SimulatedStream _aToB, _bToA;
    private readonly SimulatedChannel _channelA, _channelB;
    private readonly SimulatedLink<NodeToRelay> _aToRelay, _bToRelay;
    private readonly SimulatedLink<RelayToNode> _relayToA, _relayToB;
    private readonly List<string> _violations = [];
    private PrimaryNode? _bLive;
    private bool _aAlive = true, _bAlive = true, _aHalted, _bHalted;
    private bool _outputRuleBroken;
    private ulong _backupHasOutput; // the output the backup's log reproduces: the most the client may have from a primary with a backup
    private ulong _lastAck;
    private int _aFrozenUntil, _bFrozenUntil;
    private readonly Random _wakeOrder;
    private int? _failoverStep, _liveAgainStep;
    private int _nextLine;
    private int _lastProgressStep;
    private bool _availabilityLost;
    // A node whose guest exited leaves once the host's rule lets it (MayLeave); the step it began to wait.
    private bool _aLeft, _bLeft;
    private int? _aExitWaitFrom, _bExitWaitFrom;
    // Each node's disk (one and the same when shared), the writes each node's guest issued (sector
    // and bytes), and every write that reached the shared disk with the node that performed it.
    private readonly MemoryDisk? _aDisk, _bDisk;
    private readonly Dictionary<string, HashSet<(ulong Sector, string Data)>> _issuedWrites = new() { ["A"] = [], ["B"] = [] };
    private readonly List<(string Node, int Step, long Offset, byte[] Data)> _landedWrites = [];

    internal SimulatedCluster(SimulationOptions options, Func<PcMachine> boot)
    {
        _options = options;
        var random = new Random(options.Seed);
        _relay.ClientOutput += data => _transcript.Append(Encoding.ASCII.GetString(data.Span));
        var aMachine = boot();
        var bMachine = boot();
        if (options.Disk is not null)
        {
            _aDisk = new MemoryDisk((byte[])options.Disk.Clone());
            _bDisk = options.DiskShared ? _aDisk : new MemoryDisk((byte[])options.Disk.Clone());
            WatchIssuedWrites(aMachine, "A");
            WatchIssuedWrites(bMachine, "B");
        }
        _a = new PrimaryNode("A", 0, aMachine, _aOutput, 1, 0, options.CheckpointInterval)
        {
            SliceInstructions = options.SliceInstructions,
            ReleaseBeforeAckForTesting = options.BreakOutputRuleForTesting,
            PerformWritesBeforeAckForTesting = options.BreakDiskRuleForTesting,
            Disk = _aDisk is null ? null : new DiskService(aMachine.Disk!, _aDisk),
            DiskShared = options.DiskShared,
        };
        _b = new BackupNode("B", bMachine, _bOutput) { OwnDisk = options.DiskShared ? null : _bDisk };
        _aToB = new(random, options.MaxLinkDelay);
        _bToA = new(random, options.MaxLinkDelay);
        _channelA = new(_aToB, _bToA, options.FailureTimeout, options.WatchdogIgnoresUnreadBytesForTesting);
        _channelB = new(_bToA, _aToB, options.FailureTimeout, options.WatchdogIgnoresUnreadBytesForTesting);
        _wakeOrder = new Random(options.Seed ^ 0x5EED);
        _aToRelay = new(random, options.MaxRelayDelay);
        _bToRelay = new(random, options.MaxRelayDelay);
        _relayToA = new(random, options.MaxRelayDelay);
        _relayToB = new(random, options.MaxRelayDelay);
    }

    // ---- what injectors do ----

    /// <summary>The backup dies right after it goes live (the second half of kill-new-primary).</summary>
    public bool CrashNewPrimaryWhenLive { get; set; }

    /// <summary>The primary's process dies: it stops, and messages it sent may or may not arrive.</summary>
    public void CrashPrimary()
    {
        _aAlive = false;
        _channelA.Die();
        _aToRelay.LoseSomeInFlight();
    }

    /// <summary>The backup dies: the primary must win the arbiter and go on alone.</summary>
    public void CrashBackup()
    {
        _bAlive = false;
        _channelB.Die();
        _bToRelay.LoseSomeInFlight();
    }

    /// <summary>The logging channel is cut both ways with both nodes alive.</summary>
    public void PartitionChannel()
    {
        _aToB.Partition();
        _bToA.Partition();
    }

    /// <summary>The logging channel loses what <paramref name="node"/> sends: it still hears the other, which no longer hears it.</summary>
    public void PartitionChannelFrom(string node) => (node == "A" ? _aToB : _bToA).Partition();

    /// <summary>The logging channel delivers nothing before <paramref name="step"/>, then everything (a TCP stream retransmitting).</summary>
    public void StallChannel(int step)
    {
        _aToB.StallUntil(step);
        _bToA.StallUntil(step);
    }

    /// <summary>
    /// <paramref name="node"/>'s process stands still until <paramref name="untilStep"/> (stopped, or
    /// starved of CPU): it neither reads nor runs, while what is sent to it waits; when it runs again
    /// its watchdog may look before its reader does.
    /// </summary>
    public void Freeze(string node, int untilStep)
    {
        if (node is "A" or "both") _aFrozenUntil = Math.Max(_aFrozenUntil, untilStep);
        if (node is "B" or "both") _bFrozenUntil = Math.Max(_bFrozenUntil, untilStep);
    }

    /// <summary>
    /// <paramref name="node"/>'s channel reader lags until <paramref name="untilStep"/>: what the
    /// peer sends reaches its socket and waits there, while the node's watchdog and guest run on.
    /// </summary>
    public void LagReader(string node, int untilStep) => (node == "A" ? _channelA : _channelB).LagReaderUntil(untilStep);

    /// <summary>The connection between the relay and <paramref name="node"/> breaks: what was in flight is partly lost, and all sent while it is down.</summary>
    public void BreakRelayLink(string node)
    {
        (node == "A" ? _aToRelay : _bToRelay).Break();
        (node == "A" ? _relayToA : _relayToB).Break();
    }

    /// <summary>The relay reconnects to <paramref name="node"/>; a node that is live announces itself again, as its host does.</summary>
    public void ReconnectRelayLink(string node)
    {
        (node == "A" ? _aToRelay : _bToRelay).Cut = false;
        (node == "A" ? _relayToA : _relayToB).Cut = false;
        if (node == "A" && _aAlive && !_aHalted) _a.RelayReconnected();
        if (node == "B" && _bAlive && _bLive is not null) _bLive.RelayReconnected();
    }

    // ---- the run ----

    internal SimulationResult Run(FaultPlan plan)
    {
        foreach (var fault in plan.Faults) SimulatedFaults.For(fault.Scenario).Prepare?.Invoke(this, fault);
        string[] lines = _options.ClientLines;
        int expectedReplies = _options.ExpectedReplyLines;
        int step;

        foreach (var m in _a.TakeRelayMessages()) _aToRelay.Send(0, m);

        for (step = 1; step <= _options.MaxSteps; step++)
        {
            // Faults scheduled for this step (and the ends of the ones that last).
            foreach (var fault in plan.Faults)
            {
                var injector = SimulatedFaults.For(fault.Scenario);
                if (step == fault.AtStep) injector.Strike(this, fault);
                else if (fault.Duration > 0 && step == fault.AtStep + fault.Duration) injector.End?.Invoke(this, fault);
            }

            Deliver(step);

            // The client types its next line now and then.
            if (_nextLine < lines.Length && step % _options.ClientInterval == 0)
                _relay.OnClientInput(Encoding.ASCII.GetBytes(lines[_nextLine++] + "\n"));

            int landed = _aDisk?.WritesLanded ?? 0;
            StepPrimary(step);
            NoteLandedWrites("A", step, ref landed);
            StepBackup(step);
            NoteLandedWrites("B", step, ref landed);

            foreach (var (node, message) in _relay.TakeNodeMessages())
            {
                if (node is "A" or RelayCore.Broadcast) _relayToA.Send(step, message);
                if (node is "B" or RelayCore.Broadcast) _relayToB.Send(step, message);
            }

            if (_liveAgainStep is null && _failoverStep is not null && _relay.LiveNode == "B") _liveAgainStep = step;
            CheckAvailability(step, plan);

            // Invariant: at most one node acts as the only live node.
            int soloLive = (_aAlive && !_aHalted && _a.Alone ? 1 : 0) + (_bAlive && _bLive is not null ? 1 : 0);
            if (soloLive > 1) _violations.Add($"step {step}: two nodes live without a backup");

            if (CountLines(_transcript) >= expectedReplies) break;
            if (_availabilityLost) break; // the rest of the run would only wait
            bool anyLive = (_aAlive && !_aHalted) || (_bAlive && !_bHalted && _bLive is not null);
            bool backupCanTakeOver = _bAlive && !_bHalted && _bLive is null;
            if (!anyLive && !backupCanTakeOver)
            {
                // The service has stopped: the guest ended it, or a plan that kills both nodes did.
                // Nothing else may.
                if (_aLeft || _bLeft) CheckOutputTakenAtExit(step);
                else if (!plan.StopsTheService) AvailabilityLost(step, "no node is left to serve");
                break;
            }
        }

        CheckDelivered();
        CheckDisk();
        return new SimulationResult(_transcript.ToString(), CountLines(_transcript) >= expectedReplies, _relay.LiveNode,
            Math.Min(step, _options.MaxSteps), _failoverStep, _liveAgainStep, _violations, _channelB.Closure?.ToString());
    }

    private bool Frozen(string node, int step) => step < (node == "A" ? _aFrozenUntil : _bFrozenUntil);

    /// <summary>The first step a frozen node runs again: then its threads may run in either order.</summary>
    private bool Waking(string node, int step) => step == (node == "A" ? _aFrozenUntil : _bFrozenUntil) && _wakeOrder.Next(2) == 0;

    private void Deliver(int step)
    {
        if (!Frozen("A", step))
            foreach (var (type, value, _) in _channelA.Receive(step, Waking("A", step)))
                if (_aAlive && !_aHalted && type == FrameType.Ack) _a.OnAck(value);
        if (!Frozen("B", step))
            foreach (var (type, value, payload) in _channelB.Receive(step, Waking("B", step)))
            {
                if (!_bAlive || _bHalted || _bLive is not null || type != FrameType.LogData) continue;
                var events = LogBlocks.Decode(new LogSegment(value, payload));
                _b.OnLog(events);
                foreach (var e in events)
                    if (e is OutputMarkerEvent marker) _backupHasOutput = Math.Max(_backupHasOutput, marker.OutputEnd);
            }
        foreach (var m in _aToRelay.Deliver(step)) _relay.OnNode(m);
        // The output rule itself: while A has a backup, the client never has output that the
        // backup could not produce again if A died now.
        if (_relay.LiveNode == "A" && !_a.Alone && _relay.OutputDelivered > _backupHasOutput && !_outputRuleBroken)
        {
            _outputRuleBroken = true; // once is enough: the run goes on to show what the client sees
            _violations.Add($"step {step}: output rule broken: the client has {_relay.OutputDelivered} output bytes, the backup's log covers {_backupHasOutput}");
        }
        foreach (var m in _bToRelay.Deliver(step)) _relay.OnNode(m);
        if (!Frozen("A", step))
            foreach (var m in _relayToA.Deliver(step)) if (_aAlive && !_aHalted) _a.OnRelay(m);
        if (Frozen("B", step)) return;
        foreach (var m in _relayToB.Deliver(step))
        {
            if (!_bAlive || _bHalted) continue;
            if (_bLive is not null) _bLive.OnRelay(m);
            else _b.OnRelay(m);
        }
    }

    /// <summary>Node A: the original primary.</summary>
    private void StepPrimary(int step)
    {
        if (!_aAlive || _aHalted || Frozen("A", step)) return;
        _a.Step();
        var log = _a.TakeLog();
        if (log.Count == 0) _channelA.Send(step, Frame.Heartbeat(_a.Machine.Cpu.Position));
        foreach (var (last, bytes) in LogBlocks.Encode(log)) _channelA.Send(step, Frame.LogData(last, bytes));
        foreach (var m in _a.TakeRelayMessages()) _aToRelay.Send(step, m);
        if (!_a.Alone && _channelA.Closure is { } closure && PeerLoss.MustContend(closure))
        {
            ulong contested = _a.Generation + 1;
            if (_arbiter.TryAcquire("vm", contested, "A"))
            {
                _a.ContinueAlone(contested);
                // A backup that replayed to the guest's exit leaves too, and the primary, still
                // handing its last output to the relay, contends as for any lost peer: no failover.
                if (_a.Exited is null) _failoverStep ??= step;
            }
            else
            {
                _aHalted = true;
            }
            foreach (var m in _a.TakeRelayMessages()) _aToRelay.Send(step, m);
        }
        // The host's order: a lost backup is contended for first (winning releases the held
        // output), then a node whose guest exited looks whether it may go.
        if (!_aHalted && _a.Exited is not null && MayLeave(_a, _channelA, ref _aExitWaitFrom, step))
        {
            _aLeft = true;
            _aAlive = false;
            _channelA.Close(step, "guest exited");
        }
    }

    /// <summary>Node B: the backup, or the primary it became.</summary>
    private void StepBackup(int step)
    {
        if (!_bAlive || _bHalted || Frozen("B", step)) return;
        if (_bLive is not null)
        {
            _bLive.Step();
            _bLive.TakeLog();
            foreach (var m in _bLive.TakeRelayMessages()) _bToRelay.Send(step, m);
            if (_bLive.Exited is not null && MayLeave(_bLive, null, ref _bExitWaitFrom, step))
            {
                _bLeft = true;
                _bAlive = false;
            }
            return;
        }
        _b.Step();
        ulong ack = _b.Acknowledge();
        if (ack > _lastAck) _channelB.Send(step, Frame.Ack(_lastAck = ack));
        else _channelB.Send(step, Frame.Heartbeat(_b.Machine.Cpu.Position));
        if (_b.PrimaryExited && _options.BackupLeavesAtGuestExitForTesting)
        {
            _bLeft = true;
            _bAlive = false;
            _channelB.Close(step, "guest exited");
            return;
        }
        if (_channelB.Closure is not { } closure) return;
        if (_b.PrimaryExited && PeerLoss.PrimaryFinished(closure))
        {
            // Replayed to the guest's exit, and the primary said it is done (BackupHost).
            _bLeft = true;
            _bAlive = false;
            return;
        }
        ulong generation = _b.PrimaryGeneration + 1;
        if (!PeerLoss.MustContend(closure) || !_arbiter.TryAcquire("vm", generation, "B"))
        {
            _bHalted = true; // the primary won: the backup halts
            return;
        }
        if (_options.DisableGoLiveForTesting)
        {
            _bHalted = true; // proves the availability check: the service must be seen to stop
            return;
        }
        _failoverStep ??= step;
        _bLive = _b.GoLive(generation, _options.SliceInstructions, disk: _options.DiskShared ? _bDisk : null);
        _bLive.ContinueAlone(generation); // no new backup in this simulation
        foreach (var m in _bLive.TakeRelayMessages()) _bToRelay.Send(step, m);
        if (CrashNewPrimaryWhenLive)
        {
            _bAlive = false;
            _bToRelay.LoseSomeInFlight();
        }
    }

    /// <summary>
    /// Availability: once the client waits for a reply (it sent more lines than it got replies), a
    /// reply must come within <see cref="SimulationOptions.AvailabilityBound"/> steps, unless the
    /// plan leaves no node that could serve (both died). A fault-tolerance runtime that delivers no
    /// wrong byte but stops serving has failed too.
    /// </summary>
    private void CheckAvailability(int step, FaultPlan plan)
    {
        int got = CountLines(_transcript);
        if (got != _repliesSeen)
        {
            _repliesSeen = got;
            _lastProgressStep = step;
        }
        bool waiting = _nextLine + _options.BannerLines > got; // the banner, then one reply per line typed
        if (!waiting)
        {
            _lastProgressStep = step;
            return;
        }
        if (plan.StopsTheService || _availabilityLost || step - _lastProgressStep <= _options.AvailabilityBound) return;
        AvailabilityLost(step, $"no reply for {step - _lastProgressStep} steps while the client waited");
    }

    private void AvailabilityLost(int step, string what)
    {
        _availabilityLost = true;
        string a = !_aAlive ? "dead" : _aHalted ? "halted" : _a.Alone ? "alone" : "primary";
        string b = !_bAlive ? "dead" : _bHalted ? "halted" : _bLive is not null ? "live" : "backup";
        _violations.Add($"step {step}: availability lost: {what} (A {a}, B {b}" +
            $"{(_channelB.Closure is { } c && _bAlive ? $"; B's channel ended: {c}" : "")})");
    }

    private int _repliesSeen;

    /// <summary>
    /// The host's rule for a node whose guest exited (PrimaryHost): its backup, while it has one,
    /// first has the whole log; then the node stays until the relay confirms every byte released,
    /// and gives up only at its ceiling.
    /// </summary>
    private bool MayLeave(PrimaryNode node, SimulatedChannel? channel, ref int? waitingFrom, int step)
    {
        if (channel is not null && !node.Alone && node.Acked < node.LogEnd && channel.Closure is null) return false;
        waitingFrom ??= step;
        if (_options.LeaveSoonAfterGuestExitForTesting) return step - waitingFrom >= 2;
        return node.RelayHasAllOutput || step - waitingFrom >= _options.GuestExitPatience;
    }

    /// <summary>The guest ended the service: the client must have all the output it produced, exactly once.</summary>
    private void CheckOutputTakenAtExit(int step)
    {
        var producer = _relay.LiveNode == "B" ? _bOutput.History! : _aOutput.History!;
        if (_transcript.Length >= producer.Count) return;
        string a = _aLeft ? "left" : !_aAlive ? "dead" : "halted";
        string b = _bLeft ? "left" : !_bAlive ? "dead" : "halted";
        _violations.Add($"step {step}: the guest exited and no node is left (A {a}, B {b}), but the client got only {_transcript.Length} of its {producer.Count} output bytes");
    }

    /// <summary>
    /// Every byte the client got must be what the node that serves it now produced at that offset
    /// (the old primary's released output must be reproduced by the backup byte for byte).
    /// </summary>
    private void CheckDelivered()
    {
        string delivered = _transcript.ToString();
        var producer = _relay.LiveNode == "B" ? _bOutput.History! : _aOutput.History!;
        int common = Math.Min(delivered.Length, producer.Count);
        for (int i = 0; i < common; i++)
        {
            if (delivered[i] != (char)producer[i])
            {
                _violations.Add($"output byte {i}: the client got '{delivered[i]}', the live node {_relay.LiveNode} produced '{(char)producer[i]}'");
                break;
            }
        }
        if (_relay.LiveNode == "B" && delivered.Length > producer.Count)
            _violations.Add($"the client got {delivered.Length} output bytes, the live node produced only {producer.Count}");
    }

    private void WatchIssuedWrites(PcMachine machine, string node) =>
        machine.Disk!.Issued += r =>
        {
            if (r.Kind == Guest.Devices.Virtio.DiskRequestKind.Write) _issuedWrites[node].Add((r.Sector, Convert.ToBase64String(r.WriteData!)));
        };

    private void NoteLandedWrites(string node, int step, ref int landed)
    {
        if (_aDisk is null || !_options.DiskShared) return; // a disk of each node's own: every write on it is its node's
        for (; landed < _aDisk.WritesLanded; landed++)
            _landedWrites.Add((node, step, _aDisk.Writes[landed].Offset, _aDisk.Writes[landed].Data));
    }

    /// <summary>
    /// The disk of the node that serves at the end, when there is one. No write that node's guest
    /// never issued ever reached it (on a shared disk, the old primary may write only what its
    /// backup's log makes the backup issue too), and what the workload says the client's
    /// transcript requires is on it (a write the guest saw complete is never lost).
    /// </summary>
    private void CheckDisk()
    {
        if (_aDisk is null || _bDisk is null) return;
        string live = _relay.LiveNode == "B" ? "B" : "A";
        var disk = live == "B" ? _bDisk : _aDisk;
        var landed = _options.DiskShared ? _landedWrites : [.. disk.Writes.Select(w => (live, 0, w.Offset, w.Data))];
        foreach (var (node, step, offset, data) in landed)
        {
            ulong sector = (ulong)offset / DiskConfiguration.SectorSize;
            if (_issuedWrites[live].Contains((sector, Convert.ToBase64String(data)))) continue;
            string text = Encoding.ASCII.GetString(data, 0, Math.Min(data.Length, 40)).TrimEnd('\0').ReplaceLineEndings(" ");
            _violations.Add($"{(step > 0 ? $"step {step}: " : "")}{node} wrote sector {sector} ('{text}'), which the serving node {live}'s guest never issued");
            break;
        }
        foreach (var problem in _options.DiskCheck?.Invoke(_transcript.ToString(), disk.Bytes) ?? [])
            _violations.Add(problem);
    }

    private static int CountLines(StringBuilder sb)
    {
        int n = 0;
        for (int i = 0; i < sb.Length; i++) if (sb[i] == '\n') n++;
        return n;
    }
}
