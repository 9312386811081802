using VmFt.Guest.Machine;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Determinism;

/// <summary>
/// The primary's side of the determinism boundary: every input from the outside world becomes an
/// event at the machine's current position, is applied through <see cref="EventApplier"/>, and is
/// appended to the sink. With no sink it only applies (a solo run).
/// </summary>
public sealed class Recorder(PcMachine machine, IEventSink? sink)
{
    private ulong _nextSequence = 1;
    private ulong _lastCheckpoint;

    /// <summary>Instructions between state-hash checkpoints (0: none).</summary>
    public ulong CheckpointInterval { get; init; }

    public ulong EventsRecorded => _nextSequence - 1;

    public void SetTime(ulong nanoseconds) => Record(new TimeSetEvent(_nextSequence, machine.Cpu.Position, nanoseconds));

    public void SerialInput(ulong inputOffset, ReadOnlySpan<byte> data) =>
        Record(new SerialInputEvent(_nextSequence, machine.Cpu.Position, inputOffset, data.ToArray()));

    /// <summary>Writes a checkpoint if one is due (or <paramref name="force"/>d).</summary>
    public void MaybeCheckpoint(bool force = false)
    {
        if (sink is null) return;
        ulong position = machine.Cpu.Position;
        if (!force && (CheckpointInterval == 0 || position - _lastCheckpoint < CheckpointInterval)) return;
        _lastCheckpoint = position;
        Record(new CheckpointEvent(_nextSequence, position, machine.StateHash()));
    }

    public void Exit(MachineExitReason reason, int? status) =>
        Record(new GuestExitEvent(_nextSequence, machine.Cpu.Position, (byte)reason, status ?? -1));

    private void Record(LogEvent e)
    {
        EventApplier.Apply(machine, e);
        _nextSequence++;
        sink?.Append(e);
    }
}
