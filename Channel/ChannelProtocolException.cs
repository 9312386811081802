namespace VmFt.Channel;

/// <summary>The peer sent bytes that break the wire protocol (bad frame, bad handshake, bad sequence).</summary>
public sealed class ChannelProtocolException : Exception
{
    public ChannelProtocolException(string reason) : base(reason) { }

    public ChannelProtocolException(string reason, Exception inner) : base(reason, inner) { }
}
