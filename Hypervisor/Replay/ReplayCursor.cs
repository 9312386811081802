using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Replay;

/// <summary>
/// Where a replay stands in its log, and how it takes each event: the next sequence due, and
/// every event applied at its position with a replay's checks (a checkpoint's state hash, a
/// recorded snapshot's CPU and device state, nothing after the recorded exit), its input through
/// <see cref="EventApplier"/>. <see cref="Replayer"/> (a log that arrives) and the debugger's
/// session (a recording moved through both ways) both take their events through one of these.
/// </summary>
public sealed class ReplayCursor(PcMachine machine)
{
    private HashSet<ulong>? _verified;

    /// <summary>The sequence of the next event due (logs start at 1).</summary>
    public ulong NextSequence { get; private set; } = 1;

    /// <summary>The recorded exit, once it has been taken.</summary>
    public GuestExitEvent? Exit { get; private set; }

    public int CheckpointsVerified { get; private set; }

    /// <summary>Events other than checkpoints, snapshot states and the exit that were applied.</summary>
    public int EventsApplied { get; private set; }

    /// <summary>Called after each checkpoint matched (for progress reports and snapshots).</summary>
    public Action<CheckpointEvent>? CheckpointVerified { get; set; }

    /// <summary>
    /// For a cursor that moves back (the debugger): checkpoints verified once are not hashed again
    /// when a stretch is replayed again (a hash covers all of RAM).
    /// </summary>
    public bool RememberVerified { get; init; }

    /// <summary>
    /// Off while the state has been changed by hand: checkpoints and snapshots cannot match it,
    /// and are not checked until a move restores a recorded state.
    /// </summary>
    public bool Checking { get; set; } = true;

    /// <summary>The machine was put back to a state (a snapshot) whose next event due is #<paramref name="nextSequence"/>.</summary>
    public void MoveTo(ulong nextSequence)
    {
        NextSequence = nextSequence;
        Exit = null;
    }

    /// <summary>Checks that <paramref name="e"/> is the event due (a replayer's check before it runs the machine to it).</summary>
    public void Admit(LogEvent e)
    {
        if (Exit is not null)
            throw new DivergenceException($"event #{e.Sequence} after the guest's recorded exit", e.Position, e.Sequence);
        if (e.Sequence != NextSequence)
            throw new DivergenceException($"event #{e.Sequence} where #{NextSequence} was due: the log has a gap or is out of order", e.Position, e.Sequence);
    }

    /// <summary>Takes <paramref name="e"/>, the event due, at its position, which the machine must have reached.</summary>
    public void Apply(LogEvent e)
    {
        Admit(e);
        ulong position = machine.Cpu.Position;
        if (e.Position != position)
            throw new DivergenceException($"event #{e.Sequence} is at position {e.Position}, but the replay is {(e.Position < position ? "already" : "only")} at {position}", e.Position, e.Sequence);
        NextSequence++;
        switch (e)
        {
            case CheckpointEvent c:
                if (!Checking || _verified?.Contains(c.Sequence) == true) break;
                ulong hash = machine.StateHash();
                if (hash != c.StateHash)
                    throw new DivergenceException(
                        $"state hash differs at checkpoint #{c.Sequence}, position {c.Position}: log {c.StateHash:X16}, replay {hash:X16}",
                        c.Position, c.Sequence);
                CheckpointsVerified++;
                if (RememberVerified) (_verified ??= []).Add(c.Sequence);
                CheckpointVerified?.Invoke(c);
                break;
            case GuestExitEvent x:
                Exit = x;
                break;
            case SnapshotStateEvent snapshot:
                // The recording's snapshot must hold the state the replay reached (its pages are
                // checked by the hash of the checkpoint recorded with it when a debugger restores it).
                if (!Checking) break;
                var (cpu, devices) = machine.SaveStateBytes();
                if (!cpu.AsSpan().SequenceEqual(snapshot.CpuState) || !devices.AsSpan().SequenceEqual(snapshot.DeviceState))
                    throw new DivergenceException($"the recording's snapshot #{snapshot.Sequence} at position {snapshot.Position} differs from the replayed CPU or device state", snapshot.Position, snapshot.Sequence);
                break;
            default:
                EventApplier.Apply(machine, e);
                EventsApplied++;
                break;
        }
    }
}
