using System.Net;
using Microsoft.Extensions.Logging;
using VmFt.Channel;
using VmFt.Channel.Transport;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// <c>vmft primary</c> once its options are bound: connects the logging channel to the backup
/// (retrying while it starts), serves the relay's connections, and runs the primary host until the
/// guest exits, the node halts or it is stopped. Status lines are logged (<see cref="PrimaryLog"/>;
/// the logging channel's own under the category VmFt.Channel).
/// </summary>
public static class PrimaryProcess
{
    /// <summary>How long the primary keeps trying to reach a backup that is not listening yet.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    public static async Task<NodeExit> RunAsync(PcMachine machine, string id, EndPoint backup, LogChannelOptions options,
        TcpChannelListener relayListener, IArbiter arbiter, string vmId, TimeSpan? statsInterval, ulong checkpointInterval,
        ILoggerFactory logging, CancellationToken token, Storage.IDiskBackend? disk = null, bool diskShared = true)
    {
        using var _ = relayListener;
        var log = logging.CreateLogger(PrimaryLog.Category);
        var wake = new WakeSignal();
        var relay = new RelayEndpoint(id, wake, log);
        PrimaryLog.RelayPort(log, id, relayListener.LocalEndPoint);
        LogChannel channel;
        try
        {
            channel = await ConnectWithRetryAsync(backup, options, logging.CreateLogger(NodeProcess.ChannelCategory), token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ChannelRejectedException or ChannelProtocolException or IOException)
        {
            PrimaryLog.ChannelRefused(log, backup, e.Message);
            return NodeExit.ChannelFailed;
        }
        catch (TimeoutException e)
        {
            PrimaryLog.NoBackup(log, e.Message);
            return NodeExit.ChannelFailed;
        }
        PrimaryLog.ChannelUp(log, id, backup);
        NodeProcess.AcceptRelays(relayListener, relay, token);
        await using (channel.ConfigureAwait(false))
        {
            var node = new PrimaryNode(id, 0, machine, new OutputStream(), 1, 0, checkpointInterval)
            {
                Clock = ClockMode.Realtime,
                Disk = disk is null || machine.Disk is null ? null : new Storage.DiskService(machine.Disk, disk),
                DiskShared = diskShared,
            };
            var host = new PrimaryHost(node, channel, relay, wake, arbiter, vmId, logging) { StatsInterval = statsInterval };
            var exit = await NodeProcess.RunUntilStopped(() => host.RunAsync(token)).ConfigureAwait(false);
            if (exit == NodeExit.Halted) PrimaryLog.Halted(log, node.Generation + 1);
            return exit;
        }
    }

    private static async Task<LogChannel> ConnectWithRetryAsync(EndPoint backup, LogChannelOptions options, ILogger channelLog, CancellationToken token)
    {
        var deadline = DateTime.UtcNow + ConnectTimeout;
        while (true)
        {
            SocketDuplexPipe pipe;
            try
            {
                pipe = await TcpChannelConnector.ConnectAsync(backup, cancellationToken: token).ConfigureAwait(false);
            }
            catch (System.Net.Sockets.SocketException)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"no backup answers at {backup}");
                await Task.Delay(100, token).ConfigureAwait(false);
                continue;
            }
            return await LogChannel.ConnectAsync(pipe, options, channelLog, token).ConfigureAwait(false);
        }
    }
}
