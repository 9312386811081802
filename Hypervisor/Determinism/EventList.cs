using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Determinism;

/// <summary>An in-memory log: the simplest sink, and a source for replay.</summary>
public sealed class EventList : IEventSink
{
    private readonly List<LogEvent> _events = [];

    public IReadOnlyList<LogEvent> Events => _events;

    public void Append(LogEvent logEvent) => _events.Add(logEvent);
}
