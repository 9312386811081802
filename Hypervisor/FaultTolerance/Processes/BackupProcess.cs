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
/// go to <paramref name="status"/>, failures to <paramref name="error"/>.
/// </summary>
public static class BackupProcess
{
    public static async Task<NodeExit> RunAsync(PcMachine machine, string id, TcpChannelListener logListener, LogChannelOptions options,
        TcpChannelListener relayListener, IArbiter arbiter, string vmId, ulong maxReplayLag,
        Action<string> status, Action<string> error, CancellationToken token)
    {
        using var _ = relayListener;
        using var __ = logListener;
        var wake = new WakeSignal();
        var relay = new RelayEndpoint(id, wake);
        status($"{id}: relay port {relayListener.LocalEndPoint}, logging channel on {logListener.LocalEndPoint}");
        NodeProcess.AcceptRelays(relayListener, relay, token);
        LogChannel channel;
        try
        {
            var pipe = await logListener.AcceptAsync(token).ConfigureAwait(false);
            channel = await LogChannel.AcceptAsync(pipe, options, cancellationToken: token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ChannelRejectedException or ChannelProtocolException or IOException)
        {
            error($"vmft backup: logging channel from the primary refused: {e.Message}");
            return NodeExit.ChannelFailed;
        }
        catch (OperationCanceledException)
        {
            return NodeExit.Stopped;
        }
        status($"{id}: logging channel from the primary is up");
        await using (channel.ConfigureAwait(false))
        {
            var host = new BackupHost(new BackupNode(id, machine) { MaxReplayLag = maxReplayLag }, channel, relay, wake, arbiter, vmId, status);
            var exit = await NodeProcess.RunUntilStopped(() => host.RunAsync(token)).ConfigureAwait(false);
            if (exit == NodeExit.Halted) error($"vmft backup: halted: the primary continues alone (lost the arbiter for generation 1)");
            return exit;
        }
    }
}
