using VmFt.Channel.Framing;
using VmFt.Channel.Handshake;

namespace VmFt.Channel;

/// <summary>Identity, secret and timing of one end of a logging channel.</summary>
public sealed class LogChannelOptions
{
    /// <summary>The VM both ends replicate; a peer for another VM is refused.</summary>
    public required Guid VmId { get; init; }

    /// <summary>
    /// The machine this node started from (the guest's state hash once its image was loaded); a peer
    /// that started another one is refused. Zero when the owner has no machine to name.
    /// </summary>
    public ulong Machine { get; init; }

    /// <summary>This node's role; the peer must hold the other one.</summary>
    public required ChannelRole LocalRole { get; init; }

    /// <summary>Key both ends prove they hold (HMAC-SHA256 over the handshake transcript).</summary>
    public required byte[] SharedSecret { get; init; }

    /// <summary>How often a heartbeat is sent, in both directions.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A peer that sends nothing for longer than this is declared dead.</summary>
    public TimeSpan PeerTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest the handshake may take before the connection is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Log bytes the primary may have in flight without an ack; beyond it <see cref="LogChannel.SendLogAsync"/>
    /// waits, which stalls the primary when the backup falls behind.
    /// </summary>
    public long SendWindowBytes { get; init; } = 8 << 20;

    /// <summary>Largest frame body accepted or sent.</summary>
    public int MaxFrameBodyLength { get; init; } = FrameCodec.DefaultMaxBodyLength;

    /// <summary>Clock for heartbeats and failure detection; tests may substitute their own.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The same options for <paramref name="role"/> (a backup that went live accepts joining backups as a primary).</summary>
    public LogChannelOptions WithRole(ChannelRole role) => new()
    {
        VmId = VmId,
        Machine = Machine,
        LocalRole = role,
        SharedSecret = SharedSecret,
        HeartbeatInterval = HeartbeatInterval,
        PeerTimeout = PeerTimeout,
        HandshakeTimeout = HandshakeTimeout,
        SendWindowBytes = SendWindowBytes,
        MaxFrameBodyLength = MaxFrameBodyLength,
        TimeProvider = TimeProvider,
    };

    internal void Validate()
    {
        if (SharedSecret is null || SharedSecret.Length == 0)
            throw new ArgumentException("a shared secret is required", nameof(SharedSecret));
        if (LocalRole is not (ChannelRole.Primary or ChannelRole.Backup))
            throw new ArgumentException($"unknown role {LocalRole}", nameof(LocalRole));
        if (HeartbeatInterval <= TimeSpan.Zero || PeerTimeout <= TimeSpan.Zero || HandshakeTimeout <= TimeSpan.Zero)
            throw new ArgumentException("intervals and timeouts must be positive");
        if (SendWindowBytes <= 0)
            throw new ArgumentException("the send window must be positive", nameof(SendWindowBytes));
        if (MaxFrameBodyLength < HelloMessage.Length)
            throw new ArgumentException("the maximum frame body is too small for the handshake", nameof(MaxFrameBodyLength));
    }
}
