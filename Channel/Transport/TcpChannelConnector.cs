using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace VmFt.Channel.Transport;

/// <summary>The connecting side of a TCP logging channel (normally the primary).</summary>
public static class TcpChannelConnector
{
    public static async Task<SocketDuplexPipe> ConnectAsync(EndPoint endPoint, PipeOptions? options = null, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new SocketDuplexPipe(socket, options);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
