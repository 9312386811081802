namespace VmFt.Channel.Framing;

/// <summary>
/// Called once per decoded frame, synchronously, while the frame's payload is still valid.
/// Returns false to stop reading after this frame (the rest stays in the pipe).
/// </summary>
public delegate bool FrameHandler(in Frame frame);
