using System.Net;
using Microsoft.Extensions.Logging;
using VmFt.Channel;

namespace VmFt.Hypervisor.FaultTolerance.Primary;

/// <summary>
/// The primary's status lines (category <see cref="Category"/>, event ids 1000-1099). Their text is
/// read by tools (vmft bench faults, vmft demo): see "Machine-readable lines" in docs/ARCHITECTURE.md
/// before changing one.
/// </summary>
internal static partial class PrimaryLog
{
    public const string Category = "VmFt.Primary";

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "{NodeId}: relay port {RelayPort}")]
    public static partial void RelayPort(ILogger logger, string nodeId, EndPoint? relayPort);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "vmft primary: logging channel to {Backup} refused: {Reason}")]
    public static partial void ChannelRefused(ILogger logger, EndPoint backup, string reason);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "vmft primary: {Reason}")]
    public static partial void NoBackup(ILogger logger, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "{NodeId}: logging channel to the backup at {Backup} is up")]
    public static partial void ChannelUp(ILogger logger, string nodeId, EndPoint backup);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "vmft primary: halted: the backup took over (lost the arbiter for generation {Generation})")]
    public static partial void Halted(ILogger logger, ulong generation);

    /// <summary>The periodic <c>ft stats:</c> line (<see cref="FtStatistics.Sample"/>).</summary>
    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "{Line}")]
    public static partial void Stats(ILogger logger, string line);

    /// <summary>The <c>ft summary:</c> line (<see cref="FtStatistics.Summary"/>).</summary>
    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "{Line}")]
    public static partial void Summary(ILogger logger, string line);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "{NodeId}: backup lost: {Closure}")]
    public static partial void BackupLost(ILogger logger, string nodeId, ChannelClosure closure);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Information, Message = "{NodeId}: the backup won the arbiter for generation {Generation}: halting")]
    public static partial void LostArbiter(ILogger logger, string nodeId, ulong generation);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "{NodeId}: won the arbiter for generation {Generation}: continuing alone")]
    public static partial void ContinuingAlone(ILogger logger, string nodeId, ulong generation);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "{NodeId}: guest exited ({Reason})")]
    public static partial void GuestExited(ILogger logger, string nodeId, Guest.Machine.MachineExitReason? reason);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Debug, Message = "{NodeId}: the relay connected again: announcing this node")]
    public static partial void RelayReconnected(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "{NodeId}: accepting joining backups on {Address}")]
    public static partial void AcceptingJoins(ILogger logger, string nodeId, EndPoint address);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "{NodeId}: refused a joining backup from {Peer}: {Reason}")]
    public static partial void JoinRefused(ILogger logger, string nodeId, EndPoint? peer, string reason);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Information, Message = "{NodeId}: a backup joins from {Peer}: copying the machine while the guest runs")]
    public static partial void JoinStarted(ILogger logger, string nodeId, EndPoint? peer);

    /// <summary>The join's figures (<see cref="JoinFigures"/>); from here the backup counts for the output rule.</summary>
    [LoggerMessage(EventId = 1016, Level = LogLevel.Information, Message = "{NodeId}: backup joined from {Peer} (generation {Generation}): {Figures}")]
    public static partial void Joined(ILogger logger, string nodeId, EndPoint? peer, ulong generation, JoinFigures figures);

    [LoggerMessage(EventId = 1017, Level = LogLevel.Warning, Message = "{NodeId}: the backup joining from {Peer} is gone ({Reason}): serving on alone")]
    public static partial void JoinAbandoned(ILogger logger, string nodeId, EndPoint? peer, string reason);

    [LoggerMessage(EventId = 1019, Level = LogLevel.Warning, Message = "{NodeId}: the relay took {Taken} of the {Released} output bytes in the {Seconds} s after the guest exited: the rest is lost")]
    public static partial void OutputNotTaken(ILogger logger, string nodeId, ulong taken, ulong released, long seconds);

    [LoggerMessage(EventId = 1018, Level = LogLevel.Information, Message = "{NodeId}: started alone (no backup yet)")]
    public static partial void StartedAlone(ILogger logger, string nodeId);
}
