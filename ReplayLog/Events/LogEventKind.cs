namespace VmFt.ReplayLog.Events;

/// <summary>The kinds of entry in the replay log. The numeric values are part of the binary format: never renumber.</summary>
public enum LogEventKind : byte
{
    /// <summary>Guest time was set at a position (a host-clock sample, or a virtual-time idle skip).</summary>
    TimeSet = 1,
    /// <summary>Bytes arrived on the guest's serial line at a position.</summary>
    SerialInput = 2,
    /// <summary>A state hash of the whole machine at a position, for the replayer to compare.</summary>
    Checkpoint = 3,
    /// <summary>The guest produced output bytes up to an output stream offset, at a position (for the output rule).</summary>
    OutputMarker = 4,
    /// <summary>The guest stopped (debug exit, triple fault, ...) at a position.</summary>
    GuestExit = 5,
    /// <summary>Nothing happened: the primary is alive and has executed up to a position.</summary>
    PositionBeacon = 6,
    /// <summary>A recording's snapshot begins: CPU and device state at a position (version 2).</summary>
    SnapshotState = 7,
    /// <summary>RAM pages of the snapshot begun at the same position, changed since the previous snapshot (version 2).</summary>
    SnapshotPages = 8,
    /// <summary>A disk read completed at a position: request id, status and, when it succeeded, the data read (version 4).</summary>
    DiskRead = 9,
    /// <summary>A disk write or flush completed (or a read failed) at a position: request id and status (version 4).</summary>
    DiskCompletion = 10,
    /// <summary>A network frame arrived for the guest's network card at a position: the frame's bytes (version 5).</summary>
    NetReceive = 12,
}
