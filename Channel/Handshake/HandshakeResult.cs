namespace VmFt.Channel.Handshake;

/// <summary>What both ends agreed on.</summary>
public sealed record HandshakeResult(ChannelRole PeerRole, Guid VmId, ushort Version);
