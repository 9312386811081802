namespace VmFt.Guest.Time;

/// <summary>
/// Guest time as the devices see it. In virtual-time mode the machine derives it from the
/// instruction position; in realtime mode it supplies host time that has been logged, so that a
/// replay sees the same values. Devices never read a host clock themselves.
/// </summary>
public interface IGuestClock
{
    /// <summary>Nanoseconds since power-on. Never decreases.</summary>
    ulong Now { get; }
}
