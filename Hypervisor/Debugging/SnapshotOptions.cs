namespace VmFt.Hypervisor.Debugging;

/// <summary>How a <see cref="ReplaySession"/> keeps snapshots for moving backwards.</summary>
public sealed record SnapshotOptions
{
    /// <summary>
    /// Instructions between automatic snapshots while moving forwards: the most a step back
    /// replays (at 80 MIPS, 5 M is about 60 ms). A snapshot costs the pages written since the one
    /// before, so a finer grid costs memory more than time.
    /// </summary>
    public ulong Interval { get; init; } = 5_000_000;
    /// <summary>Memory the snapshots may use; past it, every other snapshot is dropped and the interval doubles.</summary>
    public long MemoryBudgetBytes { get; init; } = 1L << 30;
    /// <summary>Start from the snapshots stored in the recording (false: replay from power-on, as a check of the stored ones does).</summary>
    public bool UseRecordingSnapshots { get; init; } = true;
}
