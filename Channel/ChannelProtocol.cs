namespace VmFt.Channel;

/// <summary>Identity of the logging channel's wire protocol.</summary>
public static class ChannelProtocol
{
    /// <summary>"VMFTCHAN" little-endian; sent first in every handshake.</summary>
    public const ulong Magic = 0x4E41484354464D56;

    /// <summary>Wire protocol version; bump it when a frame layout or the handshake changes.</summary>
    /// <remarks>3: the State frame (a live copy of the machine for a backup that joins a running primary).</remarks>
    public const ushort Version = 3;
}
