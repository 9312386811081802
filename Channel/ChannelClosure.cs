namespace VmFt.Channel;

/// <summary>Why and how a channel ended.</summary>
public sealed record ChannelClosure(ChannelCloseReason Reason, ChannelCloseCode Code, string Message, Exception? Exception = null)
{
    /// <summary>True when the peer must be presumed dead: the start of a failover.</summary>
    public bool PeerLost => Reason is ChannelCloseReason.PeerSilent or ChannelCloseReason.TransportFailed;

    public override string ToString() => $"{Reason} ({Code}): {Message}";
}
