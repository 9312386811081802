using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace VmFt.Channel.Transport;

/// <summary>The accepting side of a TCP logging channel (normally the backup).</summary>
public sealed class TcpChannelListener : IDisposable
{
    private readonly Socket _listener;
    private readonly PipeOptions? _options;

    private TcpChannelListener(Socket listener, PipeOptions? options)
    {
        _listener = listener;
        _options = options;
    }

    /// <summary>Binds and listens; port 0 picks a free port (see <see cref="LocalEndPoint"/>).</summary>
    public static TcpChannelListener Start(IPEndPoint endPoint, PipeOptions? options = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(backlog: 4);
            return new TcpChannelListener(socket, options);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public async ValueTask<SocketDuplexPipe> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var socket = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        return new SocketDuplexPipe(socket, _options);
    }

    public void Dispose() => _listener.Dispose();
}
