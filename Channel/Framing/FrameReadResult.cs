namespace VmFt.Channel.Framing;

/// <summary>
/// How <see cref="FrameReader.ReadAsync"/> ended: the handler stopped it, or the peer closed the
/// stream, between frames (<see cref="PendingBytes"/> 0) or after the first
/// <see cref="PendingBytes"/> bytes of a frame it never finished: what a peer killed while
/// writing, or a connection cut mid-frame, leaves behind.
/// </summary>
public readonly record struct FrameReadResult(bool Stopped, long PendingBytes);
