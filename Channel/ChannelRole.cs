namespace VmFt.Channel;

/// <summary>Which end of the logging channel a node is. Values are on the wire.</summary>
public enum ChannelRole : byte
{
    Primary = 1,
    Backup = 2,
}
