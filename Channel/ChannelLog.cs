using Microsoft.Extensions.Logging;

namespace VmFt.Channel;

/// <summary>Every log line the channel writes. Event ids are stable (4000-4099): dashboards key on them.</summary>
internal static partial class ChannelLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning,
        Message = "Logging channel: refused the peer ({Code}): {Reason}")]
    public static partial void RefusedPeer(ILogger logger, ChannelCloseCode code, string reason);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning,
        Message = "Logging channel: refused by the peer ({Code}): {Reason}")]
    public static partial void RefusedByPeer(ILogger logger, ChannelCloseCode code, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information,
        Message = "Logging channel established: {LocalRole} with {PeerRole} for VM {VmId}")]
    public static partial void Established(ILogger logger, ChannelRole localRole, ChannelRole peerRole, Guid vmId);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning,
        Message = "Logging channel: peer silent for {SilentMs} ms (timeout {TimeoutMs} ms), declared dead")]
    public static partial void PeerSilent(ILogger logger, long silentMs, long timeoutMs);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error,
        Message = "Logging channel: protocol error ({Code}): {Reason}")]
    public static partial void ProtocolError(ILogger logger, ChannelCloseCode code, string reason);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning,
        Message = "Logging channel: transport failed: {Reason}")]
    public static partial void TransportFailed(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Information,
        Message = "Logging channel: peer said goodbye ({Code}): {Reason}")]
    public static partial void PeerGoodbye(ILogger logger, ChannelCloseCode code, string reason);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Debug,
        Message = "Logging channel: log sending paused, {Unacknowledged} bytes unacknowledged (window {Window})")]
    public static partial void WindowFull(ILogger logger, long unacknowledged, long window);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Debug,
        Message = "Logging channel: log sending resumed, {Unacknowledged} bytes unacknowledged")]
    public static partial void WindowReopened(ILogger logger, long unacknowledged);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information,
        Message = "Logging channel closed locally ({Code}): {Reason}")]
    public static partial void ClosedLocally(ILogger logger, ChannelCloseCode code, string reason);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Debug,
        Message = "Logging channel: transport full, writer paused by back-pressure")]
    public static partial void TransportPaused(ILogger logger);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Debug,
        Message = "Logging channel: transport drained, writer resumed")]
    public static partial void TransportResumed(ILogger logger);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Warning,
        Message = "Logging channel: this node stood still for {StallMs} ms (starved of CPU, paused or stopped): not held against the peer")]
    public static partial void OwnStall(ILogger logger, long stallMs);
}
