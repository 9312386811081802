using System.Text;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// One simulated run's world: primary A, backup B (or the primary it became), the relay, the
/// arbiter, the six links between them and the client, stepped on one clock. Injectors
/// (<see cref="SimulatedFaults"/>) act on it through the fault operations below; the run checks
/// the output rule and the one-live-node rule at every step.
/// </summary>
public sealed class SimulatedCluster
{
    private abstract record PeerMessage;
    private sealed record LogBatch(List<LogEvent> Events) : PeerMessage;
    private sealed record AckMessage(ulong Sequence) : PeerMessage;

    private readonly SimulationOptions _options;
    private readonly InMemoryArbiter _arbiter = new();
    private readonly RelayCore _relay = new();
    private readonly StringBuilder _transcript = new();
    private readonly OutputStream _aOutput = new() { History = [] };
    private readonly OutputStream _bOutput = new() { History = [] };
    private readonly PrimaryNode _a;
    private readonly BackupNode _b;
    private readonly SimulatedLink<PeerMessage> _aToB, _bToA;
    private readonly SimulatedLink<NodeToRelay> _aToRelay, _bToRelay;
    private readonly SimulatedLink<RelayToNode> _relayToA, _relayToB;
    private readonly List<string> _violations = [];
    private PrimaryNode? _bLive;
    private bool _aAlive = true, _bAlive = true, _aHalted, _bHalted;
    private bool _outputRuleBroken;
    private ulong _backupHasOutput; // the output the backup's log reproduces: the most the client may have from a primary with a backup
    private int _lastHeardByA, _lastHeardByB;
    private int? _failoverStep, _liveAgainStep;
    private int _nextLine;

    internal SimulatedCluster(SimulationOptions options, Func<PcMachine> boot)
    {
        _options = options;
        var random = new Random(options.Seed);
        _relay.ClientOutput += data => _transcript.Append(Encoding.ASCII.GetString(data.Span));
        _a = new PrimaryNode("A", 0, boot(), _aOutput, 1, 0, options.CheckpointInterval)
        {
            SliceInstructions = options.SliceInstructions,
            ReleaseBeforeAckForTesting = options.BreakOutputRuleForTesting,
        };
        _b = new BackupNode("B", boot(), _bOutput);
        _aToB = new(random, options.MaxLinkDelay);
        _bToA = new(random, options.MaxLinkDelay);
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
        _aToB.LoseSomeInFlight();
        _aToRelay.LoseSomeInFlight();
    }

    /// <summary>The backup dies: the primary must win the arbiter and go on alone.</summary>
    public void CrashBackup()
    {
        _bAlive = false;
        _bToA.LoseSomeInFlight();
        _bToRelay.LoseSomeInFlight();
    }

    /// <summary>The logging channel is cut both ways with both nodes alive.</summary>
    public void PartitionChannel()
    {
        _aToB.Break();
        _bToA.Break();
    }

    /// <summary>The logging channel loses what <paramref name="node"/> sends: it still hears the other, which no longer hears it.</summary>
    public void PartitionChannelFrom(string node) => (node == "A" ? _aToB : _bToA).Break();

    /// <summary>The logging channel delivers nothing before <paramref name="step"/>, then everything (a TCP stream retransmitting).</summary>
    public void StallChannel(int step)
    {
        _aToB.StallUntil(step);
        _bToA.StallUntil(step);
    }

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

            StepPrimary(step);
            StepBackup(step);

            foreach (var (node, message) in _relay.TakeNodeMessages())
            {
                if (node is "A" or RelayCore.Broadcast) _relayToA.Send(step, message);
                if (node is "B" or RelayCore.Broadcast) _relayToB.Send(step, message);
            }

            if (_liveAgainStep is null && _failoverStep is not null && _relay.LiveNode == "B") _liveAgainStep = step;

            // Invariant: at most one node acts as the only live node.
            int soloLive = (_aAlive && !_aHalted && _a.Alone ? 1 : 0) + (_bAlive && _bLive is not null ? 1 : 0);
            if (soloLive > 1) _violations.Add($"step {step}: two nodes live without a backup");

            if (CountLines(_transcript) >= expectedReplies) break;
            bool anyLive = (_aAlive && !_aHalted) || (_bAlive && !_bHalted && _bLive is not null);
            bool backupCanTakeOver = _bAlive && !_bHalted && _bLive is null;
            if (!anyLive && !backupCanTakeOver) break; // the service has stopped
        }

        CheckDelivered();
        return new SimulationResult(_transcript.ToString(), CountLines(_transcript) >= expectedReplies, _relay.LiveNode,
            Math.Min(step, _options.MaxSteps), _failoverStep, _liveAgainStep, _violations);
    }

    private void Deliver(int step)
    {
        foreach (var m in _bToA.Deliver(step))
        {
            if (!_aAlive || _aHalted) continue;
            _lastHeardByA = step;
            if (m is AckMessage ack) _a.OnAck(ack.Sequence);
        }
        foreach (var m in _aToB.Deliver(step))
        {
            if (!_bAlive || _bHalted || _bLive is not null) continue;
            _lastHeardByB = step;
            if (m is not LogBatch batch) continue;
            _b.OnLog(batch.Events);
            foreach (var e in batch.Events)
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
        foreach (var m in _relayToA.Deliver(step)) if (_aAlive && !_aHalted) _a.OnRelay(m);
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
        if (!_aAlive || _aHalted) return;
        _a.Step();
        _aToB.Send(step, new LogBatch(_a.TakeLog())); // an empty batch is the heartbeat
        foreach (var m in _a.TakeRelayMessages()) _aToRelay.Send(step, m);
        if (!_a.Alone && step - _lastHeardByA > _options.FailureTimeout)
        {
            if (_arbiter.TryAcquire("vm", 1, "A")) _a.ContinueAlone();
            else _aHalted = true;
            foreach (var m in _a.TakeRelayMessages()) _aToRelay.Send(step, m);
        }
    }

    /// <summary>Node B: the backup, or the primary it became.</summary>
    private void StepBackup(int step)
    {
        if (!_bAlive || _bHalted) return;
        if (_bLive is not null)
        {
            _bLive.Step();
            _bLive.TakeLog();
            foreach (var m in _bLive.TakeRelayMessages()) _bToRelay.Send(step, m);
            return;
        }
        _b.Step();
        _bToA.Send(step, new AckMessage(_b.Acknowledge()));
        if (step - _lastHeardByB <= _options.FailureTimeout) return;
        if (!_arbiter.TryAcquire("vm", 1, "B"))
        {
            _bHalted = true;
            return;
        }
        _failoverStep = step;
        _bLive = _b.GoLive(1, _options.SliceInstructions);
        _bLive.ContinueAlone(); // no new backup in this simulation
        foreach (var m in _bLive.TakeRelayMessages()) _bToRelay.Send(step, m);
        if (CrashNewPrimaryWhenLive)
        {
            _bAlive = false;
            _bToRelay.LoseSomeInFlight();
        }
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

    private static int CountLines(StringBuilder sb)
    {
        int n = 0;
        for (int i = 0; i < sb.Length; i++) if (sb[i] == '\n') n++;
        return n;
    }
}
