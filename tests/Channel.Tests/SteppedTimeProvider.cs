namespace VmFt.Channel.Tests;

/// <summary>
/// A clock whose time and timers move only when the test says so, one tick at a time: <see cref="Tick"/>
/// sets the time and fires every timer once. Unlike a fake clock that walks its timers through each
/// period of an advance, a tick after a long jump is one late tick, as a node that stood still sees it.
/// </summary>
internal sealed class SteppedTimeProvider : TimeProvider
{
    private readonly List<SteppedTimer> _timers = [];
    private long _now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _now);

    public int TimerCount { get { lock (_timers) return _timers.Count; } }

    /// <summary>Moves the clock forward by <paramref name="by"/>, then fires each live timer once.</summary>
    public void Tick(TimeSpan by)
    {
        Interlocked.Add(ref _now, by.Ticks);
        SteppedTimer[] timers;
        lock (_timers) timers = [.. _timers];
        foreach (var timer in timers)
            timer.Fire();
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new SteppedTimer(this, callback, state);
        lock (_timers) _timers.Add(timer);
        return timer;
    }

    private void Remove(SteppedTimer timer)
    {
        lock (_timers) _timers.Remove(timer);
    }

    private sealed class SteppedTimer(SteppedTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose() => owner.Remove(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
