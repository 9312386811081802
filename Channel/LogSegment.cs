namespace VmFt.Channel;

/// <summary>One LogData frame as received: opaque log bytes ending at event <see cref="LastSequence"/>.</summary>
public readonly record struct LogSegment(ulong LastSequence, ReadOnlyMemory<byte> Bytes);
