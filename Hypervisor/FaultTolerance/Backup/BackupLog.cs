using System.Net;
using Microsoft.Extensions.Logging;
using VmFt.Channel;

namespace VmFt.Hypervisor.FaultTolerance.Backup;

/// <summary>
/// The backup's status lines (category <see cref="Category"/>, event ids 2000-2099). Their text is
/// read by tools (vmft bench faults, vmft demo): see "Machine-readable lines" in docs/ARCHITECTURE.md
/// before changing one. Once live, the node logs as a primary.
/// </summary>
internal static partial class BackupLog
{
    public const string Category = "VmFt.Backup";

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "{NodeId}: relay port {RelayPort}, logging channel on {LogPort}")]
    public static partial void Listening(ILogger logger, string nodeId, EndPoint? relayPort, EndPoint? logPort);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "vmft backup: logging channel from the primary refused: {Reason}")]
    public static partial void ChannelRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "{NodeId}: logging channel from the primary is up")]
    public static partial void ChannelUp(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "vmft backup: halted: the primary continues alone (lost the arbiter for generation {Generation})")]
    public static partial void Halted(ILogger logger, ulong generation);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "{NodeId}: the primary's guest exited; replayed to #{Sequence}")]
    public static partial void PrimaryGuestExited(ILogger logger, string nodeId, ulong sequence);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "{NodeId}: primary lost: {Closure}")]
    public static partial void PrimaryLost(ILogger logger, string nodeId, ChannelClosure closure);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Information, Message = "{NodeId}: the primary won the arbiter for generation {Generation}: halting")]
    public static partial void LostArbiter(ILogger logger, string nodeId, ulong generation);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "{NodeId}: won the arbiter for generation {Generation}")]
    public static partial void WonArbiter(ILogger logger, string nodeId, ulong generation);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "{NodeId}: the primary's guest had exited; going live only to hand the relay the last output")]
    public static partial void LiveToHandOverOutput(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "{NodeId}: drained the log to #{Sequence} at instruction {Position}")]
    public static partial void Drained(ILogger logger, string nodeId, ulong sequence, ulong position);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Information, Message = "{NodeId}: {Requests} disk requests in flight at go-live ({Writes} of them writes or flushes): the new primary performs them again")]
    public static partial void Reissuing(ILogger logger, string nodeId, int requests, int writes);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Information,
        Message = "{NodeId}: live as generation {Generation} (input offset {InputEnd}), {Milliseconds} ms after the loss was detected; announcing to the relay")]
    public static partial void Live(ILogger logger, string nodeId, ulong generation, ulong inputEnd, string milliseconds);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Information, Message = "{NodeId}: joining the primary at {Primary}")]
    public static partial void Joining(ILogger logger, string nodeId, EndPoint primary);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Error, Message = "vmft backup: joining the primary at {Primary} refused: {Reason}")]
    public static partial void JoinRefused(ILogger logger, EndPoint primary, string reason);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Information,
        Message = "{NodeId}: joined the primary at {Primary} (generation {Generation}): {Pages} pages in {Rounds} pre-copy rounds and a stop-and-copy, {Milliseconds} ms; state hash {Hash} at instruction {Position} matches")]
    public static partial void Joined(ILogger logger, string nodeId, EndPoint primary, ulong generation, long pages, uint rounds, string milliseconds, string hash, ulong position);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Error, Message = "vmft backup: joining the primary at {Primary} failed: {Reason}")]
    public static partial void JoinFailed(ILogger logger, EndPoint primary, string reason);
}
