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
    // Two seats, A (the primary) and B (the backup, or the primary it became), which injectors name.
    // A repair seats the node left serving at A and a new backup, joined from it, at B; each node
    // has a name of its own (A, B, then C, D...), which is how the relay knows it.
    private readonly Func<PcMachine> _boot;
    private readonly Random _random;
    private string _aName = "A", _bName = "B";
    private readonly OutputStream _aOutput = new() { History = [] };
    private readonly OutputStream _bOutput = new() { History = [] };
    private PrimaryNode _a;
    private BackupNode? _b;
    private SimulatedStream _aToB, _bToA;
    private SimulatedChannel _channelA, _channelB;
    private SimulatedLink<NodeToRelay> _aToRelay, _bToRelay;
    private SimulatedLink<RelayToNode> _relayToA, _relayToB;
    private readonly List<string> _violations = [];
    private PrimaryNode? _bLive;
    private bool _aAlive = true, _bAlive = true, _aHalted, _bHalted;
    private readonly HashSet<ulong> _outputRuleBroken = []; // generations in which it was seen broken (once each is enough)
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
        _boot = boot;
        var random = _random = new Random(options.Seed);
        _repairs = new Random(options.Seed ^ 0x4E70);
        _lineage["A"] = (null, 0, _aOutput.History!);
        _lineage["B"] = (null, 0, _bOutput.History!);
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

    /// <summary>
    /// After every failover a new backup joins the node left serving (<see cref="Repair"/>), as
    /// <c>vmft ft --respawn</c> starts one; the plan's further faults strike once it has.
    /// </summary>
    public bool RepairAfterFailover { get; set; }

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
        // The plan's faults, then each further one once the pair is whole again after a repair.
        var faults = new List<Fault>(plan.Faults);
        int further = 0;

        foreach (var m in _a.TakeRelayMessages()) _aToRelay.Send(0, m);

        for (step = 1; step <= _options.MaxSteps; step++)
        {
            // The previous fault settles first (detection, the arbiter, a failover and its repair):
            // just after a partition the pair still looks whole, and a kill drawn then would
            // strike the survivor of a failover not yet decided, a double failure no plan means.
            if (further < plan.AfterRepair.Count && _rejoins > 0 && Whole && faults.TrueForAll(f => step > f.AtStep + f.Duration + 2 * _options.FailureTimeout))
            {
                var next = plan.AfterRepair[further++];
                faults.Add(next with { AtStep = step + next.AtStep });
            }
            // Faults scheduled for this step (and the ends of the ones that last).
            foreach (var fault in faults)
            {
                var injector = SimulatedFaults.For(fault.Scenario);
                if (step == fault.AtStep) injector.Strike(this, fault);
                else if (fault.Duration > 0 && step == fault.AtStep + fault.Duration) injector.End?.Invoke(this, fault);
            }
            if (RepairAfterFailover) Repair(step);

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
                if (node == _aName || node == RelayCore.Broadcast) _relayToA.Send(step, message);
                if (node == _bName || node == RelayCore.Broadcast) _relayToB.Send(step, message);
            }

            if (_liveAgainStep is null && _failoverStep is not null && _relay.LiveNode is { } liveNow && liveNow != "A") _liveAgainStep = step;
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
            Math.Min(step, _options.MaxSteps), _failoverStep, _liveAgainStep, _violations, _channelB.Closure?.ToString())
        {
            Failovers = _failovers,
            Rejoins = _rejoins,
            Generation = _relay.Generation,
        };
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
                if (!_bAlive || _bHalted || _bLive is not null) continue;
                if (type == FrameType.State && _joining is not null)
                {
                    TakeState(step, value, payload);
                    continue;
                }
                if (type != FrameType.LogData || _b is null) continue;
                var events = LogBlocks.Decode(new LogSegment(value, payload));
                _b.OnLog(events);
                foreach (var e in events)
                    if (e is OutputMarkerEvent marker) _backupHasOutput = Math.Max(_backupHasOutput, marker.OutputEnd);
            }
        foreach (var m in _aToRelay.Deliver(step)) _relay.OnNode(m);
        // The output rule itself: while A has a backup, the client never has output that the
        // backup could not produce again if A died now (in every generation: a backup that joined
        // has the output up to its copy, then what its log reproduces).
        if (_relay.LiveNode == _aName && !_a.Alone && _relay.OutputDelivered > _backupHasOutput && _outputRuleBroken.Add(_a.Generation))
        {
            // Once a generation is enough: the run goes on to show what the client sees.
            _violations.Add($"step {step}: output rule broken{(_a.Generation > 0 ? $" in generation {_a.Generation} ({_aName}, its backup {_bName} joined)" : "")}: " +
                $"the client has {_relay.OutputDelivered} output bytes, the backup's log covers {_backupHasOutput}");
        }
        foreach (var m in _bToRelay.Deliver(step)) _relay.OnNode(m);
        if (!Frozen("A", step))
            foreach (var m in _relayToA.Deliver(step)) if (_aAlive && !_aHalted) _a.OnRelay(m);
        if (Frozen("B", step)) return;
        foreach (var m in _relayToB.Deliver(step))
        {
            if (!_bAlive || _bHalted) continue;
            if (_bLive is not null) _bLive.OnRelay(m);
            else _b?.OnRelay(m);
        }
    }

    /// <summary>Seat A: the original primary, or after a repair the node left serving.</summary>
    private void StepPrimary(int step)
    {
        if (!_aAlive || _aHalted || Frozen("A", step)) return;
        if (_joining is { Attached: false }) CopyForJoin(step);
        _a.Step();
        var log = _a.TakeLog();
        // Alone, the log has nobody to go to: what it did is in the state a joining backup is copied.
        if (_a.Alone) log.Clear();
        if (log.Count == 0) _channelA.Send(step, Frame.Heartbeat(_a.Machine.Cpu.Position));
        foreach (var (last, bytes) in LogBlocks.Encode(log)) _channelA.Send(step, Frame.LogData(last, bytes));
        foreach (var m in _a.TakeRelayMessages()) _aToRelay.Send(step, m);
        if (_a.Alone && _joining is not null && _channelA.Closure is not null)
        {
            // The joiner is gone before it counted: serve on alone, ready for the next.
            _joining = null;
            _bHalted = true;
        }
        if (!_a.Alone && _channelA.Closure is { } closure && PeerLoss.MustContend(closure))
        {
            ulong contested = _a.Generation + 1;
            if (_arbiter.TryAcquire("vm", contested, _aName))
            {
                _a.ContinueAlone(contested);
                // A backup that replayed to the guest's exit leaves too, and the primary, still
                // handing its last output to the relay, contends as for any lost peer: no failover.
                if (_a.Exited is null)
                {
                    _failoverStep ??= step;
                    _failovers++;
                }
                _joining = null; // a joiner lost after it counted: the next one starts afresh
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

    /// <summary>Seat B: the backup (after a repair, the one that joined), or the primary it became.</summary>
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
        if (_b is null)
        {
            // Joining: the copy is still on its way (the channel's heartbeats go on meanwhile); a
            // channel that ends before the copy is whole leaves nothing to serve from.
            _channelB.Send(step, Frame.Heartbeat(0));
            if (_channelB.Closure is not null)
            {
                _bHalted = true;
                _joining = null;
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
        if (!PeerLoss.MustContend(closure) || !_arbiter.TryAcquire("vm", generation, _bName))
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
        _failovers++;
        _bLive = _b.GoLive(generation, _options.SliceInstructions, disk: _options.DiskShared ? _bDisk : null);
        _bLive.ContinueAlone(generation); // alone until a backup joins it (a repair)
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
        string b = !_bAlive ? "dead" : _bHalted ? "halted" : _bLive is not null ? "live" : _b is null ? "joining" : "backup";
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
        var (_, start, produced) = _lineage[_relay.LiveNode ?? "A"];
        ulong total = start + (ulong)produced.Count; // a joined node's own output starts where its copy did
        if ((ulong)_transcript.Length >= total) return;
        string a = _aLeft ? "left" : !_aAlive ? "dead" : "halted";
        string b = _bLeft ? "left" : !_bAlive ? "dead" : "halted";
        _violations.Add($"step {step}: the guest exited and no node is left (A {a}, B {b}), but the client got only {_transcript.Length} of its {total} output bytes");
    }

    /// <summary>
    /// Every byte the client got must be what the node that serves it now produced at that offset
    /// (the old primary's released output must be reproduced by the backup byte for byte).
    /// </summary>
    private void CheckDelivered()
    {
        string delivered = _transcript.ToString();
        // A node that joined produced only what came after its copy; before that, the node it was
        // copied from (and so on back to the first pair) must have produced what the client got.
        string? node = _relay.LiveNode ?? "A";
        int upTo = delivered.Length;
        bool last = true;
        while (node is not null && _lineage.TryGetValue(node, out var from))
        {
            var (parent, start, produced) = from;
            int begin = (int)Math.Min(start, (ulong)upTo), end = Math.Min(upTo, begin + produced.Count);
            for (int i = begin; i < end; i++)
            {
                if (delivered[i] != (char)produced[i - begin])
                {
                    _violations.Add($"output byte {i}: the client got '{delivered[i]}', {(last ? "the live node" : "the node copied from,")} {node} produced '{(char)produced[i - begin]}'");
                    return;
                }
            }
            if (last && node != "A" && upTo > begin + produced.Count)
            {
                _violations.Add($"the client got {delivered.Length} output bytes, the live node {node} produced only up to {begin + produced.Count}");
                return;
            }
            upTo = begin;
            node = parent;
            last = false;
        }
    }

    // ---- repair: a new backup joins the node left serving ----

    // Each node's output as it produced it: the node it was copied from, where its own output
    // starts, and every byte from there (A and B from the start).
    private readonly Dictionary<string, (string? From, ulong Start, List<byte> Produced)> _lineage = [];
    private readonly Random _repairs; // its own draws, so a repair changes no other draw of the seed
    private Joining? _joining;
    private int _rejoins, _failovers, _joiners;
    private int? _repairAt;

    /// <summary>A backup joining: the live copy on its way, from either end.</summary>
    private sealed class Joining(string node, PcMachine machine, int copyUntil)
    {
        public string Node { get; } = node;
        public PcMachine Machine { get; } = machine;
        public BackupJoin.Receiver Receiver { get; } = new(machine);
        /// <summary>Every byte its replay (and, once live, its guest) produces.</summary>
        public List<byte> Produced { get; } = [];
        /// <summary>The step the running round of the pre-copy has been sent by.</summary>
        public int CopyUntil { get; set; } = copyUntil;
        public int Rounds { get; set; } = 1;
        public int RoundPages { get; set; }
        public bool Attached { get; set; }
    }

    /// <summary>A primary with a backup that has its copy, and nothing in between (the moment for a plan's further fault).</summary>
    private bool Whole => _aAlive && !_aHalted && !_a.Alone && _b is not null && _bAlive && !_bHalted && _bLive is null && _joining is null;

    /// <summary>
    /// Once one node serves alone with its peer dead or halted, a while later (drawn) a new backup
    /// starts joining it: the serving node takes seat A (B's node moves there if it is the one),
    /// and the new one seat B, with a fresh channel and relay link. The copy itself goes as the real
    /// join's does (<see cref="CopyForJoin"/>, <see cref="TakeState"/>).
    /// </summary>
    private void Repair(int step)
    {
        if (_joining is not null) return;
        bool aServes = _aAlive && !_aHalted && _a.Alone && (!_bAlive || _bHalted);
        bool bServes = _bAlive && !_bHalted && _bLive is not null && (!_aAlive || _aHalted);
        if (!aServes && !bServes)
        {
            _repairAt = null;
            return;
        }
        _repairAt ??= step + 1 + _repairs.Next(10);
        if (step < _repairAt || (aServes ? _a : _bLive!).Exited is not null) return; // a guest that is done has nothing to copy
        _repairAt = null;
        if (bServes)
        {
            // The node that went live moves to seat A with everything of its own.
            (_a, _aName, _aToRelay, _relayToA) = (_bLive!, _bName, _bToRelay, _relayToB);
            _aAlive = true;
            _aHalted = false;
            _aFrozenUntil = _bFrozenUntil;
            (_aLeft, _aExitWaitFrom) = (_bLeft, _bExitWaitFrom);
        }
        // Every joiner a name of its own (an abandoned one's too): C, D, ... Z, then N27, N28...
        string name = _joiners < 24 ? ((char)('C' + _joiners)).ToString() : $"N{_joiners + 3}";
        _joiners++;
        _bName = name;
        _b = null;
        _bLive = null;
        _bAlive = true;
        _bHalted = false;
        _bLeft = false;
        _bExitWaitFrom = null;
        _bFrozenUntil = 0;
        _aToB = new(_random, _options.MaxLinkDelay);
        _bToA = new(_random, _options.MaxLinkDelay);
        _channelA = new(_aToB, _bToA, _options.FailureTimeout, _options.WatchdogIgnoresUnreadBytesForTesting, step);
        _channelB = new(_bToA, _aToB, _options.FailureTimeout, _options.WatchdogIgnoresUnreadBytesForTesting, step);
        _bToRelay = new(_random, _options.MaxRelayDelay);
        _relayToB = new(_random, _options.MaxRelayDelay);
        _lastAck = 0;
        // Round one: all of RAM, sent while the guest runs on for a few steps (written pages noted).
        _joining = new Joining(name, _boot(), step + 1 + _repairs.Next(8));
        _a.Machine.RestartWrittenPages();
        var all = Enumerable.Range(0, _a.Machine.Memory.Ram.Length / MachineSnapshot.PageSize).ToList();
        SendPages(step, all);
    }

    private void SendPages(int step, List<int> pages)
    {
        _joining!.RoundPages = pages.Count;
        foreach (var (body, _) in PrimaryJoin.PageBodies(_a.Machine, pages)) _channelA.Send(step, Frame.State(JoinState.PagesKind, body));
    }

    /// <summary>
    /// The live node's side, between two of its steps: once a round has been sent, the next round
    /// of written pages, or (by the real join's rule) the stop-and-copy: the last pages, the
    /// checkpoint, CPU and devices; from here the backup counts for the output rule.
    /// </summary>
    private void CopyForJoin(int step)
    {
        var j = _joining!;
        if (step < j.CopyUntil) return;
        var written = PrimaryJoin.WrittenPages(_a.Machine);
        if (!PrimaryJoin.PreCopyOver(j.Rounds, j.RoundPages, written.Count))
        {
            j.Rounds++;
            j.CopyUntil = step + 1 + _repairs.Next(8);
            _a.Machine.RestartWrittenPages();
            SendPages(step, written);
            return;
        }
        if (_a.Exited is not null)
        {
            // The guest finished during the copy: nothing left to replicate.
            _joining = null;
            _bHalted = true;
            return;
        }
        SendPages(step, written);
        var final = _a.AttachBackup((uint)j.Rounds);
        foreach (var (kind, body) in PrimaryJoin.FinalPieces(final)) _channelA.Send(step, Frame.State(kind, body));
        j.Attached = true;
        _a.ReleaseBeforeAckForTesting = _options.BreakOutputRuleForTesting;
        // The backup holds all output so far (in its copy): from here its log must cover the rest.
        _backupHasOutput = final.OutputStart + (ulong)final.Output.Length;
    }

    /// <summary>The joiner's side: a State frame; with the last one, the machine restored and checked, and a backup that replays from there.</summary>
    private void TakeState(int step, ulong kind, byte[] body)
    {
        var j = _joining!;
        JoinedState? joined;
        try
        {
            joined = j.Receiver.Take(kind, body);
        }
        catch (InvalidDataException e)
        {
            _violations.Add($"step {step}: {j.Node} could not join {_aName}: {e.Message}");
            _bHalted = true;
            _joining = null;
            return;
        }
        if (joined is null) return;
        var state = joined.State;
        _b = new BackupNode(j.Node, j.Machine, state, j.Produced);
        _lineage[j.Node] = (_aName, state.OutputStart + (ulong)state.Output.Length, j.Produced);
        _lastAck = state.FirstSequence - 1;
        _joining = null;
        _rejoins++;
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
