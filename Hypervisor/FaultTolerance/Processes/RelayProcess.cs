using System.Net;
using Microsoft.Extensions.Logging;
using VmFt.Channel.Transport;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary><c>vmft relay</c> once its options are bound: says where clients connect, then serves them and the nodes until stopped.</summary>
public static class RelayProcess
{
    /// <summary>The start of the line that gives the client address (tools wait for it: see docs/ARCHITECTURE.md).</summary>
    public const string ListeningLine = RelayLog.ListeningPrefix;

    /// <param name="network">The TAP the relay owns (<c>--net</c>), or null.</param>
    public static async Task RunAsync(TcpChannelListener listener, IReadOnlyList<EndPoint> nodes, ILoggerFactory logging, CancellationToken token, Network.INetworkBackend? network = null)
    {
        var server = new RelayServer(logging, network);
        RelayLog.Listening(logging.CreateLogger(RelayLog.Category), listener.LocalEndPoint);
        await server.RunTcpAsync(listener, nodes, token).ConfigureAwait(false);
    }
}
