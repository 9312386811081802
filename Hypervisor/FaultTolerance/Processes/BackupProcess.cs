using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using VmFt.Channel;
using VmFt.Channel.Transport;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// <c>vmft backup</c> once its options are bound: serves the relay's connections, accepts the
/// primary's logging channel (or, with <c>--join</c>, connects to a running primary and takes a
/// live copy of its machine), and runs the backup host (replay, then go-live or halt). Once live,
/// backups join it on its logging-channel port. Status lines are logged (<see cref="BackupLog"/>;
/// the logging channel's own under the category VmFt.Channel).
/// </summary>
public static class BackupProcess
{
    /// <param name="join">A running primary's join address: copy its machine rather than wait for a primary to connect.</param>
    /// <param name="maxLagTime">The lag bound in replay time (<see cref="BackupHost.MaxLagTime"/>), beside <paramref name="maxReplayLag"/>.</param>
    public static async Task<NodeExit> RunAsync(PcMachine machine, string id, TcpChannelListener logListener, LogChannelOptions options,
        TcpChannelListener relayListener, IArbiter arbiter, string vmId, ulong maxReplayLag,
        ILoggerFactory logging, CancellationToken token, Storage.IDiskBackend? disk = null, EndPoint? join = null, bool diskShared = true,
        TimeSpan? maxLagTime = null)
    {
        using var _ = relayListener;
        using var joins = new JoinAcceptor(logListener, options, id, logging);
        var log = logging.CreateLogger(BackupLog.Category);
        var wake = new WakeSignal();
        var relay = new RelayEndpoint(id, wake, log);
        BackupLog.Listening(log, id, relayListener.LocalEndPoint, logListener.LocalEndPoint);
        NodeProcess.AcceptRelays(relayListener, relay, token);
        LogChannel channel;
        try
        {
            if (join is null)
            {
                var pipe = await logListener.AcceptAsync(token).ConfigureAwait(false);
                channel = await LogChannel.AcceptAsync(pipe, options, logging.CreateLogger(NodeProcess.ChannelCategory), token).ConfigureAwait(false);
            }
            else
            {
                BackupLog.Joining(log, id, join);
                channel = await PrimaryProcess.ConnectWithRetryAsync(join, options, logging.CreateLogger(NodeProcess.ChannelCategory), token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is ChannelRejectedException or ChannelProtocolException or IOException or TimeoutException)
        {
            if (join is null) BackupLog.ChannelRefused(log, e.Message);
            else BackupLog.JoinRefused(log, join, e.Message);
            return NodeExit.ChannelFailed;
        }
        catch (OperationCanceledException)
        {
            return NodeExit.Stopped;
        }
        await using (channel.ConfigureAwait(false))
        {
            BackupNode node;
            if (join is null)
            {
                BackupLog.ChannelUp(log, id);
                node = new BackupNode(id, machine) { MaxReplayLag = maxReplayLag, OwnDisk = diskShared ? null : disk };
            }
            else
            {
                JoinedState? joined;
                try
                {
                    joined = await BackupJoin.ReceiveAsync(channel, machine, token).ConfigureAwait(false);
                }
                catch (InvalidDataException e)
                {
                    BackupLog.JoinFailed(log, join, e.Message);
                    await channel.CloseAsync(ChannelCloseCode.JoinFailed, e.Message).ConfigureAwait(false);
                    return NodeExit.ChannelFailed;
                }
                catch (OperationCanceledException)
                {
                    return NodeExit.Stopped;
                }
                if (joined is null)
                {
                    var closure = await channel.Completion.ConfigureAwait(false);
                    if (closure.Code == ChannelCloseCode.BackupAttached) BackupLog.JoinRefused(log, join, closure.Message);
                    else BackupLog.JoinFailed(log, join, $"the channel ended during the copy: {closure}");
                    return NodeExit.ChannelFailed;
                }
                var s = joined.State;
                BackupLog.Joined(log, id, join, s.Generation, joined.Pages, s.Rounds,
                    joined.Elapsed.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture), s.StateHash.ToString("x16", CultureInfo.InvariantCulture), s.Position);
                node = new BackupNode(id, machine, s) { MaxReplayLag = maxReplayLag };
            }
            var host = new BackupHost(node, channel, relay, wake, arbiter, vmId, logging) { Disk = disk, Joins = joins, MaxLagTime = maxLagTime };
            var exit = await NodeProcess.RunUntilStopped(() => host.RunAsync(token)).ConfigureAwait(false);
            if (exit == NodeExit.Halted) BackupLog.Halted(log, node.PrimaryGeneration + 1);
            return exit;
        }
    }
}
