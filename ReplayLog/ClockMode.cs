namespace VmFt.ReplayLog;

/// <summary>
/// Where a guest's time comes from: the one setting a live run, a recording's header and a replay
/// agree on. The numeric values are part of the recording format.
/// </summary>
public enum ClockMode : byte
{
    /// <summary>Time is a function of the position: the log holds no host-clock samples, only the idle skips (TimeSet to the next timer). Fully reproducible.</summary>
    Virtual = 0,
    /// <summary>Time follows the host clock, sampled between slices: the samples are TimeSet events in the log, nondeterministic input.</summary>
    Realtime = 1,
}
