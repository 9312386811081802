using VmFt.Hypervisor.Determinism;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Recording;

/// <summary>Writes a live run's events into a recording file, flushing each block as it closes.</summary>
public sealed class RecordingSink(RecordingWriter writer) : IEventSink
{
    public void Append(LogEvent logEvent)
    {
        if (writer.Append(logEvent))
            writer.FlushAsync().AsTask().GetAwaiter().GetResult();
    }
}
