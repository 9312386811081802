using VmFt.Guest.Machine;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Determinism;

/// <summary>
/// The primary's side of the determinism boundary: every input from the outside world becomes an
/// event at the machine's current position, is applied through <see cref="EventApplier"/>, and is
/// appended to the sink. With no sink it only applies (a solo run).
/// </summary>
public sealed class Recorder(PcMachine machine, IEventSink? sink, ulong firstSequence = 1)
{
    private ulong _nextSequence = firstSequence;
    private ulong _lastCheckpoint;

    /// <summary>Instructions between state-hash checkpoints (0: none).</summary>
    public ulong CheckpointInterval { get; init; }

    /// <summary>The sequence number the next event will get.</summary>
    public ulong NextSequence => _nextSequence;

    /// <summary>Records that the guest's serial output reached <paramref name="outputEnd"/> bytes; returns the marker's sequence.</summary>
    public ulong OutputMarker(ulong outputEnd)
    {
        ulong sequence = _nextSequence;
        Record(new OutputMarkerEvent(sequence, machine.Cpu.Position, outputEnd));
        return sequence;
    }

    public void SetTime(ulong nanoseconds) => Record(new TimeSetEvent(_nextSequence, machine.Cpu.Position, nanoseconds));

    public void SerialInput(ulong inputOffset, ReadOnlySpan<byte> data) =>
        Record(new SerialInputEvent(_nextSequence, machine.Cpu.Position, inputOffset, data.ToArray()));

    /// <summary>Disk read <paramref name="requestId"/> completed (its data in the log, so a replay needs no disk).</summary>
    public void DiskRead(ulong requestId, byte status, byte[] data) =>
        Record(new DiskReadEvent(_nextSequence, machine.Cpu.Position, requestId, status, data));

    /// <summary>A disk write or flush completed (or a read failed).</summary>
    public void DiskCompletion(ulong requestId, byte status) =>
        Record(new DiskCompletionEvent(_nextSequence, machine.Cpu.Position, requestId, status));

    /// <summary>A frame arrived from the network for the guest's card (its bytes in the log, so a replay needs no network).</summary>
    public void NetReceive(ulong frameIndex, byte[] frame) => Record(new NetReceiveEvent(_nextSequence, machine.Cpu.Position, frameIndex, frame));

    /// <summary>Writes a checkpoint if one is due (or <paramref name="force"/>d).</summary>
    public void MaybeCheckpoint(bool force = false)
    {
        if (sink is null) return;
        ulong position = machine.Cpu.Position;
        if (!force && (CheckpointInterval == 0 || position - _lastCheckpoint < CheckpointInterval)) return;
        _lastCheckpoint = position;
        Record(new CheckpointEvent(_nextSequence, position, machine.StateHash()));
    }

    /// <summary>Records facts that change nothing (a recording's snapshot): <paramref name="create"/> gets the sequence and position.</summary>
    public void Note(Func<ulong, ulong, LogEvent> create) => Record(create(_nextSequence, machine.Cpu.Position));

    /// <summary>Tells the backup how far the primary has run when nothing else happened, so it can follow closely.</summary>
    public void Beacon() => Record(new PositionBeaconEvent(_nextSequence, machine.Cpu.Position));

    public void Exit(MachineExitReason reason, int? status) =>
        Record(new GuestExitEvent(_nextSequence, machine.Cpu.Position, (byte)reason, status ?? -1));

    private void Record(LogEvent e)
    {
        EventApplier.Apply(machine, e);
        _nextSequence++;
        sink?.Append(e);
    }
}
