using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.FaultTolerance.Backup;

/// <summary>
/// The backup: replays the primary's log on an identical machine, never running past the last
/// event it has received; acknowledges what it has received; keeps the (suppressed) output it
/// reproduces until the relay confirms the client has it. When the primary is declared dead and
/// this node wins the arbiter, <see cref="GoLive"/> turns it into the new primary.
/// </summary>
public sealed class BackupNode
{
    private readonly PcMachine _machine;
    private readonly Replayer _replayer;
    private readonly OutputStream _output;
    private readonly Queue<LogEvent> _received = new();
    // Received events not yet acknowledged, with their positions.
    private readonly Queue<(ulong Sequence, ulong Position)> _unacknowledged = new();
    private ulong _highestReceived;
    private ulong _acknowledged;
    private ulong _inputEnd;
    // The guest's transmitted frames as its replay produces them again (null: no network card), and
    // the input frames the log has applied.
    private readonly FrameStream? _frames;
    private ulong _frameInputEnd;

    public string NodeId { get; }
    public PcMachine Machine => _machine;

    /// <summary>
    /// The generation the primary it follows serves in (0 for the first pair; N for a backup that
    /// joined the winner of generation N): when the primary is lost, this node contends for the next.
    /// </summary>
    public ulong PrimaryGeneration { get; init; }
    /// <summary>The guest's transmitted frames the replay produced and the network is not known to have (null without a card).</summary>
    public FrameStream? Frames => _frames;

    /// <summary>Highest contiguous log sequence received (go-live replays all of it).</summary>
    public ulong Received => _highestReceived;
    public ulong Replayed { get; private set; }

    /// <summary>
    /// How far ahead of its replay the backup acknowledges the log, in instructions. An
    /// acknowledgement only says "I have it", so it need not wait for the replay; but a backup that
    /// acknowledged everything it received could fall behind without bound, and a failover must
    /// replay all of that first. Beyond this lag the acknowledgements wait for the replay, the
    /// primary's send window fills and the primary slows down: back-pressure.
    /// </summary>
    public ulong MaxReplayLag { get; init; } = 50_000_000;

    /// <summary>
    /// A tighter bound the host sets from the replay speed it measures (<see cref="ReplayPace"/>), so
    /// the lag is bounded in replay time too; null: <see cref="MaxReplayLag"/> alone.
    /// </summary>
    public ulong? PacedReplayLag { get; set; }
    public bool PrimaryExited { get; private set; }

    public BackupNode(string nodeId, PcMachine machine, OutputStream? output = null)
    {
        NodeId = nodeId;
        _output = output ?? new OutputStream();
        _machine = machine;
        _replayer = new Replayer(machine);
        machine.SerialOutput = _output.Append; // produced again, but never sent: the primary sent it
        if (machine.Network is not null)
        {
            _frames = new FrameStream();
            machine.NetworkOutput = _frames.Append; // numbered as the primary numbered them: the guest's transmit order
        }
    }

    /// <summary>
    /// A backup that joined a running primary: <paramref name="machine"/> holds the primary's state
    /// as <paramref name="joined"/> describes it, and the log goes on from there.
    /// </summary>
    /// <param name="outputHistory">Where the output stream also keeps every byte the replay produces (the simulator's checkers).</param>
    public BackupNode(string nodeId, PcMachine machine, JoinFinal joined, List<byte>? outputHistory = null)
        : this(nodeId, machine, new OutputStream(joined.OutputStart, joined.Output) { History = outputHistory })
    {
        _replayer.StartAt(joined.FirstSequence);
        _highestReceived = _acknowledged = Replayed = joined.FirstSequence - 1;
        _inputEnd = joined.InputEnd;
        PrimaryGeneration = joined.Generation;
    }

    /// <summary>Takes a batch of log events from the channel. Events must continue the sequence; a gap is refused whole.</summary>
    public void OnLog(IReadOnlyList<LogEvent> events)
    {
        foreach (var e in events)
        {
            if (e.Sequence <= _highestReceived) continue; // a re-sent batch: already have it
            if (e.Sequence != _highestReceived + 1)
                throw new InvalidDataException($"log event #{e.Sequence} after #{_highestReceived}: the channel lost or reordered events");
            _received.Enqueue(e);
            _unacknowledged.Enqueue((e.Sequence, e.Position));
            _highestReceived = e.Sequence;
        }
    }

    /// <summary>
    /// The sequence to acknowledge now: every received event up to the first that lies more than
    /// <see cref="MaxReplayLag"/> (or <see cref="PacedReplayLag"/>) instructions beyond the replay.
    /// Never goes backwards.
    /// </summary>
    public ulong Acknowledge()
    {
        ulong limit = _machine.Cpu.Position + Math.Min(MaxReplayLag, PacedReplayLag ?? ulong.MaxValue);
        while (_unacknowledged.TryPeek(out var e) && e.Position <= limit)
        {
            _acknowledged = e.Sequence;
            _unacknowledged.Dequeue();
        }
        return _acknowledged;
    }

    public void OnRelay(RelayToNode message)
    {
        if (message is DeliveredFromRelay delivered) _output.Confirm(delivered.OutputEnd);
        else if (message is FramesDeliveredFromRelay frames) _frames?.Confirm(frames.FrameEnd);
    }

    /// <summary>
    /// Replays what has been received, the whole of it or until about
    /// <paramref name="instructionBudget"/> instructions have run (so a host can acknowledge new
    /// log in between). True if received events remain unreplayed.
    /// </summary>
    public bool Step(ulong instructionBudget = ulong.MaxValue)
    {
        ulong start = _machine.Cpu.Position;
        while (_received.Count > 0)
        {
            if (_machine.Cpu.Position - start >= instructionBudget) return true;
            var e = _received.Dequeue();
            _replayer.Feed(e);
            Replayed = e.Sequence;
            if (e is SerialInputEvent s) _inputEnd = s.InputOffset + (ulong)s.Data.Length;
            if (e is NetReceiveEvent n) _frameInputEnd = n.FrameIndex + 1;
            if (e is GuestExitEvent) PrimaryExited = true;
        }
        return false;
    }

    /// <summary>
    /// Go live: drain the log, then continue as the primary of <paramref name="generation"/> from
    /// exactly this state. The caller must have won the arbiter.
    /// </summary>
    /// <param name="disk">
    /// The shared disk, which this node never touched as a backup: the new primary's first step
    /// performs every request the guest had issued and not seen complete (the old primary may have
    /// performed some already; doing a write again at the same offsets leaves the same bytes).
    /// </param>
    public PrimaryNode GoLive(ulong generation, ulong sliceInstructions = 20_000, ClockMode clock = ClockMode.Virtual, Storage.IDiskBackend? disk = null)
    {
        Step();
        if (_ownDisk is not null && _machine.Disk is { } device) device.Completing -= PerformOnOwnDisk; // the new primary's disk service performs from now on
        disk ??= _ownDisk;
        return new PrimaryNode(NodeId, generation, _machine, _output, _highestReceived + 1, _inputEnd, frames: _frames, frameInputEnd: _frameInputEnd)
        {
            SliceInstructions = sliceInstructions,
            Clock = clock,
            Disk = disk is null || _machine.Disk is null ? null : new Storage.DiskService(_machine.Disk, disk),
            DiskShared = _ownDisk is null,
        };
    }

    /// <summary>
    /// A disk of this node's own (the non-shared mode; null when the disk is shared and only the
    /// live node touches it). Every write and flush whose completion the replay applies is
    /// performed on it then, in the order the guest saw them complete, so at go-live it holds
    /// every write the guest has seen complete; what was still in flight is reissued.
    /// </summary>
    public Storage.IDiskBackend? OwnDisk
    {
        get => _ownDisk;
        init
        {
            _ownDisk = value;
            if (value is not null && _machine.Disk is { } device) device.Completing += PerformOnOwnDisk;
        }
    }

    private readonly Storage.IDiskBackend? _ownDisk;

    private void PerformOnOwnDisk(Guest.Devices.Virtio.DiskRequest request, byte status)
    {
        if (status != Guest.Devices.Virtio.VirtioBlock.StatusOk) return;
        if (request.Kind == Guest.Devices.Virtio.DiskRequestKind.Write)
            _ownDisk!.Write((long)request.Sector * Guest.Machine.DiskConfiguration.SectorSize, request.WriteData!);
        else if (request.Kind == Guest.Devices.Virtio.DiskRequestKind.Flush)
            _ownDisk!.Flush();
    }
}
