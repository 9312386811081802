namespace VmFt.Channel;

/// <summary>The handshake failed: this node refused the peer, or the peer refused this node.</summary>
public sealed class ChannelRejectedException : Exception
{
    public ChannelRejectedException(ChannelCloseCode code, string reason, bool byPeer)
        : base(byPeer ? $"refused by the peer ({code}): {reason}" : $"refused the peer ({code}): {reason}")
    {
        Code = code;
        Reason = reason;
        ByPeer = byPeer;
    }

    public ChannelCloseCode Code { get; }

    public string Reason { get; }

    /// <summary>True when the peer sent the Reject; false when this node refused the peer.</summary>
    public bool ByPeer { get; }
}
