using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Recording;

/// <summary>A recording read fully into memory.</summary>
public sealed class RecordingContents(RecordingHeader header, IReadOnlyList<LogEvent> events, LogTruncatedException? truncation)
{
    public RecordingHeader Header { get; } = header;

    /// <summary>Every event of every complete block, in order.</summary>
    public IReadOnlyList<LogEvent> Events { get; } = events;

    /// <summary>Why the recording is incomplete (only when truncation was allowed), or null when it ended with its end marker.</summary>
    public LogTruncatedException? Truncation { get; } = truncation;

    public bool IsComplete => Truncation is null;
}
