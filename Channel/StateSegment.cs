namespace VmFt.Channel;

/// <summary>One State frame as received: its kind and the opaque machine-state bytes it carries.</summary>
public readonly record struct StateSegment(ulong Kind, ReadOnlyMemory<byte> Bytes);
