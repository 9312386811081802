using System.Buffers;

namespace VmFt.Channel.Framing;

/// <summary>
/// One decoded frame. <see cref="Payload"/> may slice the reader's buffer: it is valid only until
/// the buffer is advanced, so copy what must outlive the read.
/// </summary>
public readonly struct Frame
{
    public Frame(FrameType type, ulong value, ReadOnlySequence<byte> payload)
    {
        Type = type;
        Value = value;
        Payload = payload;
    }

    public FrameType Type { get; }

    /// <summary>LogData: last sequence; Ack: acknowledged sequence; Heartbeat: position; State: its kind. 0 for the others.</summary>
    public ulong Value { get; }

    /// <summary>The bytes after <see cref="Value"/> (LogData, State), or the whole body (handshake, Reject, Goodbye).</summary>
    public ReadOnlySequence<byte> Payload { get; }

    /// <summary>Whether this type carries the uint64 <see cref="Value"/> at the start of its body.</summary>
    public static bool HasValue(FrameType type) =>
        type is FrameType.LogData or FrameType.Ack or FrameType.Heartbeat or FrameType.State;

    public static Frame LogData(ulong lastSequence, ReadOnlyMemory<byte> bytes) =>
        new(FrameType.LogData, lastSequence, new ReadOnlySequence<byte>(bytes));

    public static Frame State(ulong kind, ReadOnlyMemory<byte> bytes) =>
        new(FrameType.State, kind, new ReadOnlySequence<byte>(bytes));

    public static Frame Ack(ulong sequence) => new(FrameType.Ack, sequence, ReadOnlySequence<byte>.Empty);

    public static Frame Heartbeat(ulong position) => new(FrameType.Heartbeat, position, ReadOnlySequence<byte>.Empty);

    public static Frame Body(FrameType type, ReadOnlyMemory<byte> body) =>
        new(type, 0, new ReadOnlySequence<byte>(body));
}
