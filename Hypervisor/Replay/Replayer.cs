using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Replay;

/// <summary>
/// Feeds a log back into a machine that starts from the same initial state: runs to each event's
/// position, applies it, and checks every checkpoint's state hash and the recorded exit. Anything
/// that does not match is a <see cref="DivergenceException"/> naming the position and the event.
/// </summary>
public sealed class Replayer(PcMachine machine)
{
    private ulong _expectedSequence = 1;
    private int _checkpoints;
    private int _applied;
    private GuestExitEvent? _exit;

    /// <summary>Called after each checkpoint matched (for progress reports and snapshots).</summary>
    public Action<CheckpointEvent>? CheckpointVerified { get; set; }

    /// <summary>Replays <paramref name="events"/> in order; the sequence must start at 1 (or continue where the last call ended) without gaps.</summary>
    public void Feed(IEnumerable<LogEvent> events)
    {
        foreach (var e in events) Feed(e);
    }

    public void Feed(LogEvent e)
    {
        if (_exit is not null)
            throw new DivergenceException($"event #{e.Sequence} after the guest's recorded exit", e.Position, e.Sequence);
        if (e.Sequence != _expectedSequence)
            throw new DivergenceException($"event #{e.Sequence} where #{_expectedSequence} was due: the log has a gap or is out of order", e.Position, e.Sequence);
        _expectedSequence++;
        RunTo(e);
        switch (e)
        {
            case CheckpointEvent c:
                ulong hash = machine.StateHash();
                if (hash != c.StateHash)
                    throw new DivergenceException(
                        $"state hash differs at checkpoint #{c.Sequence}, position {c.Position}: log {c.StateHash:X16}, replay {hash:X16}",
                        c.Position, c.Sequence);
                _checkpoints++;
                CheckpointVerified?.Invoke(c);
                break;
            case GuestExitEvent x:
                _exit = x;
                break;
            case SnapshotStateEvent snapshot:
                // The recording's snapshot must hold the state the replay reached (its pages are
                // checked by the hash of the checkpoint recorded with it when a debugger restores it).
                var (cpu, devices) = machine.SaveStateBytes();
                if (!cpu.AsSpan().SequenceEqual(snapshot.CpuState) || !devices.AsSpan().SequenceEqual(snapshot.DeviceState))
                    throw new DivergenceException($"the recording's snapshot #{snapshot.Sequence} at position {snapshot.Position} differs from the replayed CPU or device state", snapshot.Position, snapshot.Sequence);
                break;
            default:
                EventApplier.Apply(machine, e);
                _applied++;
                break;
        }
    }

    /// <summary>Runs the machine to the event's position; the guest must not stop or idle before it.</summary>
    private void RunTo(LogEvent e)
    {
        ulong position = machine.Cpu.Position;
        if (e.Position < position)
            throw new DivergenceException($"event #{e.Sequence} is at position {e.Position}, but the replay is already at {position}", e.Position, e.Sequence);
        while (machine.Cpu.Position < e.Position)
        {
            var reason = machine.RunUntil(e.Position);
            if (machine.Cpu.Position == e.Position) break; // reached, whether it halted or stopped there
            if (reason == MachineExitReason.PositionReached) continue;
            throw new DivergenceException(
                $"the guest {(reason == MachineExitReason.Idle ? "went idle" : $"stopped ({reason})")} at position {machine.Cpu.Position}, but the log's next event (#{e.Sequence}, {e.Kind}) is at {e.Position}",
                machine.Cpu.Position, e.Sequence);
        }
        if (e is GuestExitEvent end && end.Reason != (byte)MachineExitReason.PositionReached)
        {
            // The recorded run ended by itself here: the replay must end the same way.
            var reason = machine.RunUntil(e.Position);
            if ((byte)reason != end.Reason)
                throw new DivergenceException($"the log ends with {(MachineExitReason)end.Reason} at {e.Position}; the replay reached {reason}", e.Position, e.Sequence);
        }
    }

    public ReplayResult Result => new(machine.Cpu.Position, machine.StateHash(), _checkpoints, _applied,
        _exit is null ? null : (MachineExitReason)_exit.Reason, _exit is null || _exit.Status < 0 ? null : _exit.Status);
}
