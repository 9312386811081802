namespace VmFt.Channel;

/// <summary>Why and how a channel ended.</summary>
public sealed record ChannelClosure(ChannelCloseReason Reason, ChannelCloseCode Code, string Message, Exception? Exception = null)
{
    /// <summary>True when the peer must be presumed dead: the start of a failover.</summary>
    public bool PeerLost => Reason is ChannelCloseReason.PeerSilent or ChannelCloseReason.TransportFailed;

    /// <summary>
    /// The end of a stream that closed without a Goodbye, after <paramref name="pendingBytes"/>
    /// bytes of an unfinished frame (0: between frames). Either way the peer, or the network to it,
    /// is gone: a peer killed while it was writing leaves exactly such a partial frame, and must be
    /// failed over like one that died between frames. (Bytes that break the format are a protocol
    /// error; bytes that merely stop are not.)
    /// </summary>
    public static ChannelClosure EndOfStream(long pendingBytes) => new(ChannelCloseReason.TransportFailed, ChannelCloseCode.TransportFailed,
        pendingBytes == 0
            ? "connection closed by the peer without a goodbye"
            : $"connection closed by the peer without a goodbye, inside a frame ({pendingBytes} bytes of it arrived)");

    public override string ToString() => $"{Reason} ({Code}): {Message}";
}
