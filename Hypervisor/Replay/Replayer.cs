using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Replay;

/// <summary>
/// Feeds a log back into a machine that starts from the same initial state: runs to each event's
/// position and takes it through a <see cref="ReplayCursor"/>, which checks every checkpoint's
/// state hash and the recorded exit. Anything that does not match is a
/// <see cref="DivergenceException"/> naming the position and the event.
/// </summary>
public sealed class Replayer(PcMachine machine)
{
    private readonly ReplayCursor _cursor = new(machine);

    /// <summary>Called after each checkpoint matched (for progress reports and snapshots).</summary>
    public Action<CheckpointEvent>? CheckpointVerified
    {
        get => _cursor.CheckpointVerified;
        set => _cursor.CheckpointVerified = value;
    }

    /// <summary>The log goes on at <paramref name="nextSequence"/> from the machine's state (a backup that joined a running primary).</summary>
    public void StartAt(ulong nextSequence) => _cursor.MoveTo(nextSequence);

    /// <summary>Replays <paramref name="events"/> in order; the sequence must start at 1 (or continue where the last call ended) without gaps.</summary>
    public void Feed(IEnumerable<LogEvent> events)
    {
        foreach (var e in events) Feed(e);
    }

    public void Feed(LogEvent e)
    {
        _cursor.Admit(e);
        RunTo(e);
        _cursor.Apply(e);
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

    public ReplayResult Result => new(machine.Cpu.Position, machine.StateHash(), _cursor.CheckpointsVerified, _cursor.EventsApplied,
        _cursor.Exit is { } x ? (MachineExitReason)x.Reason : null, _cursor.Exit is { Status: >= 0 } y ? y.Status : null);
}
