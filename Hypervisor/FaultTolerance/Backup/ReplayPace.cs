namespace VmFt.Hypervisor.FaultTolerance.Backup;

/// <summary>
/// The backup's replay speed as measured on its host, and the lag in instructions that replays in
/// a given time at that speed. A failover replays the whole lag before the new primary serves, so
/// a bound in instructions alone is a bound in time only at one speed: a backup starved of CPU
/// (a loaded host, a throttled process) that replays ten times slower takes ten times longer to go
/// live. With the bound taken from the measured speed, the acknowledgements wait for the replay
/// sooner and the primary slows to the backup's pace instead (back-pressure, as before).
/// The host feeds it the wall time of each replay slice, including time the process was stopped
/// or not scheduled: that is the speed the failover will see.
/// </summary>
public sealed class ReplayPace(TimeSpan target)
{
    /// <summary>Slices are pooled into windows of at least this much replay time before they count.</summary>
    public const double WindowMs = 100;

    /// <summary>The bound never falls below this, so one slow window cannot stall the primary on every slice.</summary>
    public const ulong FloorInstructions = 1_000_000;

    private ulong _windowInstructions;
    private double _windowMs;

    /// <summary>Instructions per millisecond, smoothed over windows; null until one window is complete.</summary>
    public double? InstructionsPerMs { get; private set; }

    /// <summary>Replay time the lag may amount to at the measured speed.</summary>
    public TimeSpan Target { get; } = target > TimeSpan.Zero ? target : throw new ArgumentOutOfRangeException(nameof(target), target, "must be positive");

    /// <summary>One replay slice: <paramref name="instructions"/> retired in <paramref name="ms"/> of wall time.</summary>
    public void Observe(ulong instructions, double ms)
    {
        if (instructions == 0 || ms <= 0) return; // nothing replayed: no speed to learn from
        _windowInstructions += instructions;
        _windowMs += ms;
        if (_windowMs < WindowMs) return;
        double rate = _windowInstructions / _windowMs;
        // Half the weight on the newest window: a backup that slows down is seen within a few
        // windows, and one stop of the process does not set the pace alone.
        InstructionsPerMs = InstructionsPerMs is { } old ? (old + rate) / 2 : rate;
        _windowInstructions = 0;
        _windowMs = 0;
    }

    /// <summary>The lag bound: what replays in <see cref="Target"/>, within [floor, <paramref name="ceiling"/>]; the ceiling until the speed is known.</summary>
    public ulong Bound(ulong ceiling)
    {
        if (InstructionsPerMs is not { } rate) return ceiling;
        double paced = rate * Target.TotalMilliseconds;
        ulong floor = Math.Min(FloorInstructions, ceiling);
        return paced >= ceiling ? ceiling : Math.Max(floor, (ulong)paced);
    }
}
