using System.Net;
using VmFt.Channel.Transport;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary><c>vmft relay</c> once its options are bound: says where clients connect, then serves them and the nodes until stopped.</summary>
public static class RelayProcess
{
    /// <summary>The start of the line that gives the client address (tools wait for it: see docs/ARCHITECTURE.md).</summary>
    public const string ListeningLine = "relay: clients connect to ";

    public static async Task RunAsync(TcpChannelListener listener, IReadOnlyList<EndPoint> nodes, Action<string> status, CancellationToken token)
    {
        var server = new RelayServer { Status = status };
        status($"{ListeningLine}{listener.LocalEndPoint}");
        await server.RunTcpAsync(listener, nodes, token).ConfigureAwait(false);
    }
}
