using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// Primary, backup, relay, arbiter, channel and a client in one process, on a step clock and a
/// seeded scheduler: every delay, drop and crash point comes from the seed, so any run (and any
/// failure it finds) replays exactly. The nodes are the real <see cref="PrimaryNode"/> and
/// <see cref="BackupNode"/>; only the transport and time are simulated.
/// </summary>
public sealed class FtSimulation
{
    private abstract record PeerMessage;
    private sealed record LogBatch(List<LogEvent> Events) : PeerMessage;
    private sealed record AckMessage(ulong Sequence) : PeerMessage;

    /// <summary>A FIFO link with random latency (TCP-like: in order, never duplicated).</summary>
    private sealed class Link<T>(Random random, int maxDelay)
    {
        private readonly Queue<(int Due, T Message)> _queue = new();
        private int _lastDue;
        private int _stalledUntil;
        /// <summary>Messages sent while cut are lost.</summary>
        public bool Cut { get; set; }

        public void Send(int step, T message)
        {
            if (Cut) return;
            int due = Math.Max(_lastDue, step + random.Next(maxDelay + 1));
            _lastDue = due;
            _queue.Enqueue((due, message));
        }

        public IEnumerable<T> Deliver(int step)
        {
            if (step < _stalledUntil) yield break;
            while (_queue.Count > 0 && _queue.Peek().Due <= step)
                yield return _queue.Dequeue().Message;
        }

        /// <summary>Nothing arrives before <paramref name="step"/>; then everything queued meanwhile does, in order.</summary>
        public void StallUntil(int step) => _stalledUntil = Math.Max(_stalledUntil, step);

        /// <summary>
        /// The connection broke (its sender died, or the network between): of what was in flight, a
        /// random prefix still arrives (a stream delivers a prefix of what was written, never a
        /// subsequence). Together with a fault at any step this puts crash points at every message
        /// boundary.
        /// </summary>
        public void LoseSomeInFlight()
        {
            var kept = _queue.Take(random.Next(_queue.Count + 1)).ToList();
            _queue.Clear();
            foreach (var m in kept) _queue.Enqueue(m);
        }

        /// <summary>A connection breaks: some of what is in flight is lost, and so is everything sent until <see cref="Cut"/> is cleared.</summary>
        public void Break()
        {
            Cut = true;
            LoseSomeInFlight();
        }
    }

    private readonly SimulationOptions _options;

    public FtSimulation(SimulationOptions options) => _options = options;

    private PcMachine Boot()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = _options.RamSize });
        machine.LoadMultiboot(_options.Image, _options.ImageName, new MultibootOptions());
        return machine;
    }

    public SimulationResult Run(FaultPlan plan)
    {
        var random = new Random(_options.Seed);
        var arbiter = new InMemoryArbiter();
        var relay = new RelayCore();
        var transcript = new StringBuilder();
        relay.ClientOutput += data => transcript.Append(Encoding.ASCII.GetString(data.Span));

        var aOutput = new OutputStream { History = [] };
        var bOutput = new OutputStream { History = [] };
        var a = new PrimaryNode("A", 0, Boot(), aOutput, 1, 0, _options.CheckpointInterval)
        {
            SliceInstructions = _options.SliceInstructions,
            ReleaseBeforeAckForTesting = _options.BreakOutputRuleForTesting,
        };
        var b = new BackupNode("B", Boot(), bOutput);
        PrimaryNode? bLive = null;
        bool aAlive = true, bAlive = true, aHalted = false, bHalted = false;
        bool crashNewPrimary = plan.StopsTheService;
        bool outputRuleBroken = false;
        ulong backupHasOutput = 0; // the output the backup's log reproduces: the most the client may have from a primary with a backup

        int maxDelay = _options.MaxLinkDelay;
        var aToB = new Link<PeerMessage>(random, maxDelay);
        var bToA = new Link<PeerMessage>(random, maxDelay);
        int relayDelay = _options.MaxRelayDelay;
        var aToRelay = new Link<NodeToRelay>(random, relayDelay);
        var bToRelay = new Link<NodeToRelay>(random, relayDelay);
        var relayToA = new Link<RelayToNode>(random, relayDelay);
        var relayToB = new Link<RelayToNode>(random, relayDelay);

        var violations = new List<string>();
        int lastHeardByA = 0, lastHeardByB = 0;
        int? failoverStep = null, liveAgainStep = null;
        int nextLine = 0;
        int step;
        string[] lines = _options.ClientLines;
        int expectedReplies = _options.ExpectedReplyLines;

        foreach (var m in a.TakeRelayMessages()) aToRelay.Send(0, m);

        for (step = 1; step <= _options.MaxSteps; step++)
        {
            // Faults scheduled for this step (and the ends of the ones that last).
            foreach (var fault in plan.Faults)
            {
                if (step == fault.AtStep)
                {
                    switch (fault.Kind)
                    {
                        case FaultKind.CrashPrimary:
                        case FaultKind.CrashPrimaryThenNewPrimary:
                            aAlive = false;
                            aToB.LoseSomeInFlight();
                            aToRelay.LoseSomeInFlight();
                            break;
                        case FaultKind.CrashBackup:
                            bAlive = false;
                            bToA.LoseSomeInFlight();
                            bToRelay.LoseSomeInFlight();
                            break;
                        case FaultKind.Partition:
                            aToB.Break();
                            bToA.Break();
                            break;
                        case FaultKind.PartitionOneWay:
                            (fault.Node == "A" ? aToB : bToA).Break();
                            break;
                        case FaultKind.Pause:
                            aToB.StallUntil(step + fault.Duration);
                            bToA.StallUntil(step + fault.Duration);
                            break;
                        case FaultKind.RelayLinkDrop:
                            (fault.Node == "A" ? aToRelay : bToRelay).Break();
                            (fault.Node == "A" ? relayToA : relayToB).Break();
                            break;
                    }
                }
                else if (fault.Kind == FaultKind.RelayLinkDrop && step == fault.AtStep + fault.Duration)
                {
                    // The relay reconnects; a node that is live announces itself again, as its host does.
                    (fault.Node == "A" ? aToRelay : bToRelay).Cut = false;
                    (fault.Node == "A" ? relayToA : relayToB).Cut = false;
                    if (fault.Node == "A" && aAlive && !aHalted) a.RelayReconnected();
                    if (fault.Node == "B" && bAlive && bLive is not null) bLive.RelayReconnected();
                }
            }

            // Deliveries.
            foreach (var m in bToA.Deliver(step))
            {
                if (!aAlive || aHalted) continue;
                lastHeardByA = step;
                if (m is AckMessage ack) a.OnAck(ack.Sequence);
            }
            foreach (var m in aToB.Deliver(step))
            {
                if (!bAlive || bHalted || bLive is not null) continue;
                lastHeardByB = step;
                if (m is not LogBatch batch) continue;
                b.OnLog(batch.Events);
                foreach (var e in batch.Events)
                    if (e is OutputMarkerEvent marker) backupHasOutput = Math.Max(backupHasOutput, marker.OutputEnd);
            }
            foreach (var m in aToRelay.Deliver(step)) relay.OnNode(m);
            // The output rule itself: while A has a backup, the client never has output that the
            // backup could not produce again if A died now.
            if (relay.LiveNode == "A" && !a.Alone && relay.OutputDelivered > backupHasOutput && !outputRuleBroken)
            {
                outputRuleBroken = true; // once is enough: the run goes on to show what the client sees
                violations.Add($"step {step}: output rule broken: the client has {relay.OutputDelivered} output bytes, the backup's log covers {backupHasOutput}");
            }
            foreach (var m in bToRelay.Deliver(step)) relay.OnNode(m);
            foreach (var m in relayToA.Deliver(step)) if (aAlive && !aHalted) a.OnRelay(m);
            foreach (var m in relayToB.Deliver(step))
            {
                if (!bAlive || bHalted) continue;
                if (bLive is not null) bLive.OnRelay(m);
                else b.OnRelay(m);
            }

            // The client types its next line now and then.
            if (nextLine < lines.Length && step % _options.ClientInterval == 0)
                relay.OnClientInput(Encoding.ASCII.GetBytes(lines[nextLine++] + "\n"));

            // Node A: the original primary.
            if (aAlive && !aHalted)
            {
                a.Step();
                aToB.Send(step, new LogBatch(a.TakeLog())); // an empty batch is the heartbeat
                foreach (var m in a.TakeRelayMessages()) aToRelay.Send(step, m);
                if (!a.Alone && step - lastHeardByA > _options.FailureTimeout)
                {
                    if (arbiter.TryAcquire("vm", 1, "A")) a.ContinueAlone();
                    else aHalted = true;
                    foreach (var m in a.TakeRelayMessages()) aToRelay.Send(step, m);
                }
            }

            // Node B: the backup, or the primary it became.
            if (bAlive && !bHalted)
            {
                if (bLive is null)
                {
                    b.Step();
                    bToA.Send(step, new AckMessage(b.Acknowledge()));
                    if (step - lastHeardByB > _options.FailureTimeout)
                    {
                        if (arbiter.TryAcquire("vm", 1, "B"))
                        {
                            failoverStep = step;
                            bLive = b.GoLive(1, _options.SliceInstructions);
                            bLive.ContinueAlone(); // no new backup in this simulation
                            foreach (var m in bLive.TakeRelayMessages()) bToRelay.Send(step, m);
                            if (crashNewPrimary)
                            {
                                bAlive = false;
                                bToRelay.LoseSomeInFlight();
                            }
                        }
                        else
                        {
                            bHalted = true;
                        }
                    }
                }
                else
                {
                    bLive.Step();
                    bLive.TakeLog();
                    foreach (var m in bLive.TakeRelayMessages()) bToRelay.Send(step, m);
                }
            }

            foreach (var (node, message) in relay.TakeNodeMessages())
            {
                if (node is "A" or RelayCore.Broadcast) relayToA.Send(step, message);
                if (node is "B" or RelayCore.Broadcast) relayToB.Send(step, message);
            }

            if (liveAgainStep is null && failoverStep is not null && relay.LiveNode == "B") liveAgainStep = step;

            // Invariant: at most one node acts as the only live node.
            int soloLive = (aAlive && !aHalted && a.Alone ? 1 : 0) + (bAlive && bLive is not null ? 1 : 0);
            if (soloLive > 1) violations.Add($"step {step}: two nodes live without a backup");

            if (CountLines(transcript) >= expectedReplies) break;
            bool anyLive = (aAlive && !aHalted) || (bAlive && !bHalted && bLive is not null);
            bool backupCanTakeOver = bAlive && !bHalted && bLive is null;
            if (!anyLive && !backupCanTakeOver) break; // the service has stopped
        }

        // Every byte the client got must be what the node that serves it now produced at that offset
        // (the old primary's released output must be reproduced by the backup byte for byte).
        string delivered = transcript.ToString();
        var producer = relay.LiveNode == "B" ? bOutput.History! : aOutput.History!;
        int common = Math.Min(delivered.Length, producer.Count);
        for (int i = 0; i < common; i++)
        {
            if (delivered[i] != (char)producer[i])
            {
                violations.Add($"output byte {i}: the client got '{delivered[i]}', the live node {relay.LiveNode} produced '{(char)producer[i]}'");
                break;
            }
        }
        if (relay.LiveNode == "B" && delivered.Length > producer.Count)
            violations.Add($"the client got {delivered.Length} output bytes, the live node produced only {producer.Count}");

        return new SimulationResult(transcript.ToString(), CountLines(transcript) >= expectedReplies, relay.LiveNode,
            Math.Min(step, _options.MaxSteps), failoverStep, liveAgainStep, violations);
    }

    private static int CountLines(StringBuilder sb)
    {
        int n = 0;
        for (int i = 0; i < sb.Length; i++) if (sb[i] == '\n') n++;
        return n;
    }
}
