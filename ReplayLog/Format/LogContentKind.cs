namespace VmFt.ReplayLog.Format;

/// <summary>What follows the log header. The numeric values are part of the binary format.</summary>
public enum LogContentKind : byte
{
    /// <summary>Event blocks only: the live stream from a primary to its backup.</summary>
    Stream = 1,
    /// <summary>A recording header section, then event blocks: a file that can be replayed alone.</summary>
    Recording = 2,
}
