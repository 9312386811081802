namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>What a run of bytes from gdb turned out to be.</summary>
public enum GdbInboundKind
{
    /// <summary>A complete packet whose checksum matched: acknowledge with <c>+</c> and answer it.</summary>
    Packet,
    /// <summary>A complete packet whose checksum did not match (or was not hex): answer <c>-</c> and wait for the resend.</summary>
    BadChecksum,
    /// <summary>A packet longer than the advertised size: acknowledged, its content dropped, answered with an error.</summary>
    Oversized,
    /// <summary>The interrupt byte 0x03 outside a packet (gdb's Ctrl-C).</summary>
    Interrupt,
    /// <summary><c>+</c>: gdb received our last packet.</summary>
    Ack,
    /// <summary><c>-</c>: gdb wants our last packet again.</summary>
    Nack,
}
