using System.Net;
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
/// guest exits, the node halts or it is stopped. Status lines go to <paramref name="status"/>,
/// failures to <paramref name="error"/>.
/// </summary>
public static class PrimaryProcess
{
    /// <summary>How long the primary keeps trying to reach a backup that is not listening yet.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    public static async Task<NodeExit> RunAsync(PcMachine machine, string id, EndPoint backup, LogChannelOptions options,
        TcpChannelListener relayListener, IArbiter arbiter, string vmId, TimeSpan? statsInterval, ulong checkpointInterval,
        Action<string> status, Action<string> error, CancellationToken token)
    {
        using var _ = relayListener;
        var wake = new WakeSignal();
        var relay = new RelayEndpoint(id, wake);
        status($"{id}: relay port {relayListener.LocalEndPoint}");
        LogChannel channel;
        try
        {
            channel = await ConnectWithRetryAsync(backup, options, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ChannelRejectedException or ChannelProtocolException or IOException)
        {
            error($"vmft primary: logging channel to {backup} refused: {e.Message}");
            return NodeExit.ChannelFailed;
        }
        catch (TimeoutException e)
        {
            error($"vmft primary: {e.Message}");
            return NodeExit.ChannelFailed;
        }
        status($"{id}: logging channel to the backup at {backup} is up");
        NodeProcess.AcceptRelays(relayListener, relay, token);
        await using (channel.ConfigureAwait(false))
        {
            var node = new PrimaryNode(id, 0, machine, new OutputStream(), 1, 0, checkpointInterval) { Clock = ClockMode.Realtime };
            var host = new PrimaryHost(node, channel, relay, wake, arbiter, vmId, status) { StatsInterval = statsInterval };
            var exit = await NodeProcess.RunUntilStopped(() => host.RunAsync(token)).ConfigureAwait(false);
            if (exit == NodeExit.Halted) error($"vmft primary: halted: the backup took over (lost the arbiter for generation 1)");
            return exit;
        }
    }

    private static async Task<LogChannel> ConnectWithRetryAsync(EndPoint backup, LogChannelOptions options, CancellationToken token)
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
            return await LogChannel.ConnectAsync(pipe, options, cancellationToken: token).ConfigureAwait(false);
        }
    }
}
