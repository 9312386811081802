namespace VmFt.Channel;

/// <summary>
/// The logging channel's failure detector, in whatever unit of time its owner counts (the real
/// channel: elapsed ticks; the simulator: scheduler steps). The peer is declared dead once it has
/// been silent for longer than the timeout while this node was running: a watchdog tick later than
/// two periods after the one before means this node stood still (starved of CPU, a GC pause, a
/// stopped process), and what the peer sent meanwhile may be waiting unread, so that stretch is not
/// held against the peer. Safe to use from a reader thread (<see cref="Heard"/>) and a watchdog
/// (<see cref="Tick"/>) at once.
/// </summary>
public sealed class FailureDetector(long period, long timeout, long start)
{
    private long _lastHeard = start;
    private long _lastTick = start;
    private long _ownStall;

    public long Period => period;
    public long Timeout => timeout;

    /// <summary>Bytes arrived from the peer at <paramref name="now"/>.</summary>
    public void Heard(long now)
    {
        Volatile.Write(ref _lastHeard, now);
        Volatile.Write(ref _ownStall, 0);
    }

    /// <summary>A watchdog tick at <paramref name="now"/>; true when the peer must be declared dead.</summary>
    public bool Tick(long now)
    {
        long late = now - _lastTick - period;
        _lastTick = now;
        if (late > period) Interlocked.Add(ref _ownStall, late);
        return SilenceWhileRunning(now) > timeout;
    }

    /// <summary>How long the peer has been silent at <paramref name="now"/>.</summary>
    public long Silence(long now) => now - Volatile.Read(ref _lastHeard);

    /// <summary>The silence less the time this node stood still since the peer was last heard.</summary>
    public long SilenceWhileRunning(long now) => Silence(now) - Volatile.Read(ref _ownStall);

    /// <summary>How long this node stood still since the peer was last heard.</summary>
    public long OwnStall => Volatile.Read(ref _ownStall);
}
