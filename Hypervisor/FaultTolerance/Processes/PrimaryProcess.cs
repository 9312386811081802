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
/// (retrying while it starts), or with no backup starts alone; serves the relay's connections and,
/// given a join listener, backups that join it; and runs the primary host until the guest exits,
/// the node halts or it is stopped. Status lines are logged (<see cref="PrimaryLog"/>; the logging
/// channel's own under the category VmFt.Channel).
/// </summary>
public static class PrimaryProcess
{
    /// <summary>How long the primary keeps trying to reach a backup that is not listening yet.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    /// <param name="backup">The backup's logging channel; null: start alone (a backup joins later on <paramref name="joinListener"/>).</param>
    public static async Task<NodeExit> RunAsync(PcMachine machine, string id, EndPoint? backup, LogChannelOptions options,
        TcpChannelListener relayListener, IArbiter arbiter, string vmId, TimeSpan? statsInterval, ulong checkpointInterval,
        ILoggerFactory logging, CancellationToken token, Storage.IDiskBackend? disk = null, TcpChannelListener? joinListener = null,
        bool diskShared = true, ulong maxLeadInstructions = PrimaryHost.DefaultMaxLeadInstructions)
    {
        using var _ = relayListener;
        using var joins = joinListener is null ? null : new JoinAcceptor(joinListener, options, id, logging);
        var log = logging.CreateLogger(PrimaryLog.Category);
        var wake = new WakeSignal();
        var relay = new RelayEndpoint(id, wake, log);
        PrimaryLog.RelayPort(log, id, relayListener.LocalEndPoint);
        LogChannel? channel = null;
        if (backup is not null)
        {
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
        }
        else
        {
            PrimaryLog.StartedAlone(log, id);
        }
        joins?.Start(token);
        NodeProcess.AcceptRelays(relayListener, relay, token);
        try
        {
            var node = new PrimaryNode(id, 0, machine, new OutputStream(), 1, 0, checkpointInterval)
            {
                Clock = ClockMode.Realtime,
                Disk = disk is null || machine.Disk is null ? null : new Storage.DiskService(machine.Disk, disk),
                DiskShared = diskShared,
            };
            if (channel is null) node.ContinueAlone(0);
            var host = new PrimaryHost(node, channel, relay, wake, arbiter, vmId, logging) { StatsInterval = statsInterval, Joins = joins, MaxLeadInstructions = maxLeadInstructions };
            var exit = await NodeProcess.RunUntilStopped(() => host.RunAsync(token)).ConfigureAwait(false);
            if (exit == NodeExit.Halted) PrimaryLog.Halted(log, node.Generation + 1);
            return exit;
        }
        finally
        {
            if (channel is not null) await channel.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Opens the logging channel to <paramref name="peer"/> as the connecting side, retrying while nothing listens there yet.</summary>
    /// <exception cref="TimeoutException">Nothing answered within <see cref="ConnectTimeout"/>.</exception>
    public static async Task<LogChannel> ConnectWithRetryAsync(EndPoint peer, LogChannelOptions options, ILogger channelLog, CancellationToken token)
    {
        var deadline = DateTime.UtcNow + ConnectTimeout;
        while (true)
        {
            SocketDuplexPipe pipe;
            try
            {
                pipe = await TcpChannelConnector.ConnectAsync(peer, cancellationToken: token).ConfigureAwait(false);
            }
            catch (System.Net.Sockets.SocketException)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"nothing answers at {peer}");
                await Task.Delay(100, token).ConfigureAwait(false);
                continue;
            }
            return await LogChannel.ConnectAsync(pipe, options, channelLog, token).ConfigureAwait(false);
        }
    }
}
