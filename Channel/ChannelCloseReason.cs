namespace VmFt.Channel;

/// <summary>How an established channel ended, from this node's point of view.</summary>
public enum ChannelCloseReason
{
    /// <summary>This node closed it (<see cref="LogChannel.CloseAsync"/>).</summary>
    LocalClose,
    /// <summary>The peer said Goodbye.</summary>
    PeerGoodbye,
    /// <summary>Nothing arrived from the peer within the timeout: the peer is presumed dead.</summary>
    PeerSilent,
    /// <summary>The connection failed or closed without a Goodbye: the peer is presumed dead.</summary>
    TransportFailed,
    /// <summary>The peer broke the protocol; this node refused to go on.</summary>
    ProtocolError,
}
