using VmFt.ReplayLog.Events;

namespace VmFt.ReplayLog.Format;

/// <summary>
/// One checksummed block of events as read from a stream. An end marker is a block without events;
/// its <see cref="FirstSequence"/> is the number the next event would have had.
/// </summary>
public sealed class LogBlock(long offset, int length, ulong firstSequence, LogEvent[] events)
{
    /// <summary>Stream offset of the block's first byte.</summary>
    public long Offset { get; } = offset;

    /// <summary>Bytes the block occupies, framing and checksum included.</summary>
    public int Length { get; } = length;

    public ulong FirstSequence { get; } = firstSequence;

    public IReadOnlyList<LogEvent> Events { get; } = events;

    public bool IsEndMarker => Events.Count == 0;
}
