using VmFt.Guest.Machine;
using VmFt.Hypervisor.Debugging;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Recording;

/// <summary>
/// A machine that starts where a recording ends: the recording's own machine (image, initrd,
/// command line, configuration), replayed from its last snapshot to its last position with every
/// check a replay makes, then copied into a fresh machine with nothing of the replay attached. A
/// Linux boot recorded once in virtual time up to its shell (<c>vmft record --until-output</c>) so
/// starts any number of runs or FT pairs at the prompt; two nodes resuming the same recording hold
/// the same state (the same hash in the logging channel's handshake).
/// </summary>
public static class ResumedMachine
{
    /// <exception cref="RecordingFormatException">The file is not a recording, or its end does not replay.</exception>
    public static PcMachine AtEnd(string path, out RecordingHeader header)
    {
        ReplaySession? session = ReplaySession.Open(path);
        header = session.Header;
        if (header.DiskSectors is not null)
            throw new RecordingFormatException($"{path}: the recorded machine has a disk ({header.DiskName}); resuming a machine with a disk is not supported yet");
        StopInfo stop;
        try
        {
            stop = session.Goto(session.EndPosition);
        }
        catch (Determinism.DivergenceException e)
        {
            throw new RecordingFormatException($"{path}: does not replay with this build, so it cannot be resumed: {e.Message}");
        }
        if (stop.Reason is not (StopReason.EndOfRecording or StopReason.Reached))
            throw new RecordingFormatException($"{path}: the replay stopped at position {session.Position} ({stop.Reason}) before the recording's end at {session.EndPosition}");
        MachineSnapshot? at = session.Machine.TakeSnapshot();
        if (session.Machine.ExitStatus is not null)
            throw new RecordingFormatException($"{path}: the guest had exited when the recording ended; there is nothing to resume");
        var machine = RecordedMachine.Build(header, path);
        machine.RestoreSnapshot(MachineSnapshot.FromParts(at.Position, at.CpuState, at.DeviceState, [.. at.Pages], 0));
        // The replay's snapshots are garbage now, hundreds of megabytes of it: collect it here, before
        // the caller starts (an FT node opens its channel next), not in a pause its peer would take
        // for a dead node.
        session = null;
        at = null;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return machine;
    }
}
