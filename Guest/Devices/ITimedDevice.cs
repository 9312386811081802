namespace VmFt.Guest.Devices;

/// <summary>
/// A device whose interrupt lines change with the passage of guest time (timers, clocks, receive
/// timeouts). The machine calls <see cref="Advance"/> no later than <see cref="NextDeadline"/>;
/// identical sequences of calls with identical clock values give identical behaviour.
/// </summary>
public interface ITimedDevice
{
    /// <summary>Guest nanoseconds at which the device next needs <see cref="Advance"/>; <see cref="ulong.MaxValue"/> if none.</summary>
    ulong NextDeadline { get; }

    /// <summary>Raises or lowers the interrupt lines that are due by <paramref name="now"/> (guest nanoseconds).</summary>
    void Advance(ulong now);
}
