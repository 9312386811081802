namespace VmFt.ReplayLog.Recording;

/// <summary>Where the recorded guest's time came from. The numeric values are part of the recording format.</summary>
public enum RecordingClockMode : byte
{
    /// <summary>Time was a function of the position: the log holds no host-clock samples, only the idle skips (TimeSet to the next timer).</summary>
    Virtual = 0,
    /// <summary>Time followed the host clock: the samples are TimeSet events in the log.</summary>
    Realtime = 1,
}
