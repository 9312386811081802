using System.Net;
using Microsoft.Extensions.Logging;

namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>
/// The relay's status lines (category <see cref="Category"/>, event ids 3000-3099). Their text is
/// read by tools (vmft ft, vmft bench faults, vmft demo): see "Machine-readable lines" in
/// docs/ARCHITECTURE.md before changing one.
/// </summary>
internal static partial class RelayLog
{
    public const string Category = "VmFt.Relay";

    /// <summary>The start of <see cref="Listening"/>'s line, which tools wait for to learn the client address.</summary>
    public const string ListeningPrefix = "relay: clients connect to ";

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "relay: clients connect to {Endpoint}")]
    public static partial void Listening(ILogger logger, EndPoint? endpoint);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "relay: connected to node {Node}")]
    public static partial void NodeConnected(ILogger logger, string node);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "relay: dropping node {Node}: {Reason}")]
    public static partial void DroppingNode(ILogger logger, string node, string reason);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "relay: following {Node} (generation {Generation}), client has {Delivered} output bytes")]
    public static partial void Following(ILogger logger, string node, ulong generation, ulong delivered);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Debug, Message = "relay: node {Node} disconnected")]
    public static partial void NodeDisconnected(ILogger logger, string node);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "relay: a client connected")]
    public static partial void ClientConnected(ILogger logger);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "relay: the client disconnected")]
    public static partial void ClientDisconnected(ILogger logger);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Debug, Message = "{Node}: relay connection {Number} up")]
    public static partial void EndpointAttached(ILogger logger, string node, int number);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Debug, Message = "{Node}: relay connection {Number} ended")]
    public static partial void EndpointDetached(ILogger logger, string node, int number);
}
