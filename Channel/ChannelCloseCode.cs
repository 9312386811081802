namespace VmFt.Channel;

/// <summary>Why a channel was refused or closed. Carried in Reject and Goodbye frames: never renumber.</summary>
public enum ChannelCloseCode : byte
{
    Unspecified = 0,
    Normal = 1,
    BadMagic = 2,
    UnsupportedVersion = 3,
    WrongRole = 4,
    WrongVmId = 5,
    AuthenticationFailed = 6,
    MalformedHandshake = 7,
    ProtocolError = 8,
    SequenceOutOfOrder = 9,
    HandshakeTimeout = 10,
    PeerTimeout = 11,
    TransportFailed = 12,
    WrongMachine = 13,
    /// <summary>A backup asked to join a primary that has one already (or is copying its state to one).</summary>
    BackupAttached = 14,
    /// <summary>A joining backup could not take the primary's state (it does not fit this node's machine).</summary>
    JoinFailed = 15,
}
