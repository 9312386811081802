namespace VmFt.Channel;

/// <summary>Identity of the logging channel's wire protocol.</summary>
public static class ChannelProtocol
{
    /// <summary>"VMFTCHAN" little-endian; sent first in every handshake.</summary>
    public const ulong Magic = 0x4E41484354464D56;
}
