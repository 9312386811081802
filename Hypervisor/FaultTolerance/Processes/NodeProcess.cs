using System.Security.Cryptography;
using System.Text;
using VmFt.Channel.Transport;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>What the primary and backup processes share: the VM's channel id, the relay's connections, the end of a run.</summary>
public static class NodeProcess
{
    /// <summary>The logging channel's own log lines (its handshake, failure detection, back-pressure).</summary>
    public const string ChannelCategory = "VmFt.Channel";

    /// <summary>The channel's VM id: the name itself if it is a GUID, else a GUID derived from it.</summary>
    public static Guid VmGuid(string name) =>
        Guid.TryParse(name, out var g) ? g : new Guid(SHA256.HashData(Encoding.UTF8.GetBytes(name)).AsSpan(0, 16));

    /// <summary>Accepts the relay's connections (it reconnects whenever one breaks) and serves each on <paramref name="endpoint"/>.</summary>
    public static void AcceptRelays(TcpChannelListener listener, RelayEndpoint endpoint, CancellationToken token) =>
        _ = Task.Run(async () =>
        {
            try
            {
                while (!token.IsCancellationRequested)
                {
                    var pipe = await listener.AcceptAsync(token).ConfigureAwait(false);
                    _ = Task.Run(() => endpoint.AttachAsync(pipe, token), token);
                }
            }
            catch (OperationCanceledException) { }
            catch (System.Net.Sockets.SocketException) { }
        }, token);

    /// <summary>Runs a host; cancellation (Ctrl-C) is a stop, not an error.</summary>
    public static async Task<NodeExit> RunUntilStopped(Func<Task<NodeExit>> run)
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return NodeExit.Stopped;
        }
    }
}
