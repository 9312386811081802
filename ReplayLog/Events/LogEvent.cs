namespace VmFt.ReplayLog.Events;

/// <summary>
/// One entry of the replay log: something that crossed the determinism boundary (or a checkpoint)
/// at a guest position. Events are applied before the instruction at <see cref="Position"/>
/// executes; several events at one position keep their order. <see cref="Sequence"/> numbers the
/// entries of one log from 1 without gaps.
/// </summary>
public abstract record LogEvent(ulong Sequence, ulong Position)
{
    public abstract LogEventKind Kind { get; }
}

/// <summary>Guest time becomes <paramref name="Nanoseconds"/> (never earlier than it already shows).</summary>
public sealed record TimeSetEvent(ulong Sequence, ulong Position, ulong Nanoseconds) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.TimeSet;
}

/// <summary>The serial line delivered <paramref name="Data"/>; <paramref name="InputOffset"/> is the offset of its first byte in the client's input stream.</summary>
public sealed record SerialInputEvent(ulong Sequence, ulong Position, ulong InputOffset, byte[] Data) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.SerialInput;
}

/// <summary>The machine's state hash at <paramref name="Position"/>.</summary>
public sealed record CheckpointEvent(ulong Sequence, ulong Position, ulong StateHash) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.Checkpoint;
}

/// <summary>By <paramref name="Position"/> the guest had produced <paramref name="OutputEnd"/> bytes of serial output in total.</summary>
public sealed record OutputMarkerEvent(ulong Sequence, ulong Position, ulong OutputEnd) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.OutputMarker;
}

/// <summary>The run ended at <paramref name="Position"/>: <paramref name="Reason"/> is a <c>MachineExitReason</c> value, <paramref name="Status"/> the debug-exit status or -1.</summary>
public sealed record GuestExitEvent(ulong Sequence, ulong Position, byte Reason, int Status) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.GuestExit;
}

/// <summary>The primary has executed up to <paramref name="Position"/> with nothing else to report.</summary>
public sealed record PositionBeaconEvent(ulong Sequence, ulong Position) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.PositionBeacon;
}

/// <summary>
/// A recording's snapshot of the machine at <paramref name="Position"/>: CPU and device state as the
/// machine serializes them, and how many RAM pages it has. The pages that changed since the
/// previous snapshot (since boot, for the first) follow as <see cref="SnapshotPagesEvent"/>s at the
/// same position. A checkpoint at the same position comes first, so the snapshot can be verified.
/// </summary>
public sealed record SnapshotStateEvent(ulong Sequence, ulong Position, byte[] CpuState, byte[] DeviceState, uint RamPages) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.SnapshotState;
}

/// <summary>
/// <paramref name="PageCount"/> consecutive 4 KiB RAM pages from <paramref name="FirstPage"/>, for the
/// snapshot at this position; <paramref name="Encoding"/> says how <paramref name="Data"/> holds them
/// (<see cref="SnapshotPageEncoding"/>).
/// </summary>
public sealed record SnapshotPagesEvent(ulong Sequence, ulong Position, uint FirstPage, uint PageCount, SnapshotPageEncoding Encoding, byte[] Data) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.SnapshotPages;
}

/// <summary>
/// Disk request <paramref name="RequestId"/> (the device's numbering) was a read and completed with
/// <paramref name="Status"/> (virtio-blk's: 0 OK); <paramref name="Data"/> is what was read (empty
/// unless OK). The log carries the data, so a replay needs no disk file.
/// </summary>
public sealed record DiskReadEvent(ulong Sequence, ulong Position, ulong RequestId, byte Status, byte[] Data) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.DiskRead;
}

/// <summary>Disk request <paramref name="RequestId"/> (a write or a flush, or a read that failed) completed with <paramref name="Status"/>.</summary>
public sealed record DiskCompletionEvent(ulong Sequence, ulong Position, ulong RequestId, byte Status) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.DiskCompletion;
}

/// <summary>
/// The network delivered <paramref name="Frame"/> (an Ethernet frame without its checksum) to the
/// guest's virtio-net card; <paramref name="FrameIndex"/> is its number in the network's stream of
/// frames for this machine (from 0, as serial input has its offset), so whoever feeds the machine
/// knows which frames are logged. The log carries the bytes, so a replay needs no network.
/// </summary>
public sealed record NetReceiveEvent(ulong Sequence, ulong Position, ulong FrameIndex, byte[] Frame) : LogEvent(Sequence, Position)
{
    public override LogEventKind Kind => LogEventKind.NetReceive;
}
