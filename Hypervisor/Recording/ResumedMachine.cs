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
/// the same state (the same hash in the logging channel's handshake). A machine with a disk resumes
/// too: every byte its guest read is in the log, so the replay needs no disk file; the caller then
/// serves the disk from the file it was given, and a request the guest had issued but not seen
/// complete when the recording ended is still pending in the device, so a fresh
/// <see cref="Storage.DiskService"/> performs it (as a new primary reissues at go-live).
/// </summary>
public static class ResumedMachine
{
    /// <param name="accept">Checks the header before the (long) replay: throws to refuse it (a disk that does not fit, say).</param>
    /// <exception cref="RecordingFormatException">The file is not a recording, or its end does not replay.</exception>
    public static PcMachine AtEnd(string path, out RecordingHeader header, Action<RecordingHeader>? accept = null)
    {
        ReplaySession? session = ReplaySession.Open(path);
        header = session.Header;
        accept?.Invoke(header);
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
