using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Determinism;

/// <summary>Where a recorder puts the events of a live run: a list, a recording file, the logging channel.</summary>
public interface IEventSink
{
    void Append(LogEvent logEvent);
}
