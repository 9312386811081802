using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// What differs between the two machines at the first differing position, and what led there:
/// the instruction each run executed last and is about to execute, and the logged events nearby.
/// </summary>
public sealed record StateDifference
{
    public IReadOnlyList<RegisterDifference> Registers { get; init; } = [];
    /// <summary>CPU state outside the listed registers differs (debug registers, SYSENTER MSRs, TSC offset, LDTR/TR, interrupt shadow).</summary>
    public bool CpuHiddenStateDiffers { get; init; }
    /// <summary>The first differing RAM ranges, lowest address first (at most <see cref="RecordingDiff.MaxMemoryRanges"/>).</summary>
    public IReadOnlyList<MemoryRangeDifference> MemoryRanges { get; init; } = [];
    /// <summary>All differing RAM ranges, including those not listed.</summary>
    public int MemoryRangeCount { get; init; }
    /// <summary>4 KiB pages of RAM that differ.</summary>
    public int DifferingPages { get; init; }
    /// <summary>Devices whose saved state differs ("clock" for the guest time anchor).</summary>
    public IReadOnlyList<string> Devices { get; init; } = [];
    /// <summary>The instruction each run executed from the position before to this one (null at position 0).</summary>
    public string? LastInstructionA { get; init; }
    public string? LastInstructionB { get; init; }
    /// <summary>The instruction each run is about to execute.</summary>
    public string? NextInstructionA { get; init; }
    public string? NextInstructionB { get; init; }
    /// <summary>Logged events of each run around the position (beacons left out).</summary>
    public IReadOnlyList<LogEvent> EventsA { get; init; } = [];
    public IReadOnlyList<LogEvent> EventsB { get; init; } = [];

    /// <summary>Machine state differs somewhere besides what is listed (nothing listed, yet the hashes differ).</summary>
    public bool NothingFound => Registers.Count == 0 && !CpuHiddenStateDiffers && MemoryRangeCount == 0 && Devices.Count == 0;
}
