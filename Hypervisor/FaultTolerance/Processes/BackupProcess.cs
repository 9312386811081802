using Microsoft.Extensions.Logging;
using VmFt.Channel;
using VmFt.Channel.Transport;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// <c>vmft backup</c> once its options are bound: serves the relay's connections, accepts the
/// primary's logging channel, and runs the backup host (replay, then go-live or halt). Status lines
/// are logged (<see cref="BackupLog"/>; the logging channel's own under the category VmFt.Channel).
/// </summary>
public static class BackupProcess
{
    public static async Task<NodeExit> RunAsync(PcMachine machine, string id, TcpChannelListener logListener, LogChannelOptions options,
        TcpChannelListener relayListener, IArbiter arbiter, string vmId, ulong maxReplayLag,
        ILoggerFactory logging, CancellationToken token, Storage.IDiskBackend? disk = null, bool diskShared = true)
    {
        using var _ = relayListener;
        using var __ = logListener;
        var log = logging.CreateLogger(BackupLog.Category);
        var wake = new WakeSignal();
        var relay = new RelayEndpoint(id, wake, log);
        BackupLog.Listening(log, id, relayListener.LocalEndPoint, logListener.LocalEndPoint);
        NodeProcess.AcceptRelays(relayListener, relay, token);
        LogChannel channel;
        try
        {
            var pipe = await logListener.AcceptAsync(token).ConfigureAwait(false);
            channel = await LogChannel.AcceptAsync(pipe, options, logging.CreateLogger(NodeProcess.ChannelCategory), token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ChannelRejectedException or ChannelProtocolException or IOException)
        {
            BackupLog.ChannelRefused(log, e.Message);
            return NodeExit.ChannelFailed;
        }
        catch (OperationCanceledException)
        {
            return NodeExit.Stopped;
        }
        BackupLog.ChannelUp(log, id);
        await using (channel.ConfigureAwait(false))
        {
            var node = new BackupNode(id, machine) { MaxReplayLag = maxReplayLag, OwnDisk = diskShared ? null : disk };
            var host = new BackupHost(node, channel, relay, wake, arbiter, vmId, logging) { Disk = disk };
            var exit = await NodeProcess.RunUntilStopped(() => host.RunAsync(token)).ConfigureAwait(false);
            if (exit == NodeExit.Halted) BackupLog.Halted(log, node.PrimaryGeneration + 1);
            return exit;
        }
    }
}
