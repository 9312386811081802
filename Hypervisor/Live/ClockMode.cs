namespace VmFt.Hypervisor.Live;

/// <summary>Where guest time comes from.</summary>
public enum ClockMode
{
    /// <summary>Guest time is a function of the position (and of idle skips): fully reproducible.</summary>
    Virtual,
    /// <summary>Guest time follows the host clock, sampled between slices: these samples are nondeterministic input.</summary>
    Realtime,
}
