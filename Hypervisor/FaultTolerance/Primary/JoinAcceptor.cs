using System.Net;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using VmFt.Channel;
using VmFt.Channel.Transport;

namespace VmFt.Hypervisor.FaultTolerance.Primary;

/// <summary>
/// Where backups join a running primary: accepts their connections and runs the logging channel's
/// handshake as the primary (another VM, another machine or a wrong secret is refused there, with a
/// line on both sides); <see cref="PrimaryHost"/> takes the channels that came up, one at a time.
/// The listener stays this node's for its whole life, so a backup that went live accepts joins on
/// the port its primary once reached it at.
/// </summary>
public sealed class JoinAcceptor : IDisposable
{
    private readonly TcpChannelListener _listener;
    private readonly LogChannelOptions _options;
    private readonly ILoggerFactory _logging;
    private readonly ILogger _log;
    private readonly string _nodeId;
    private readonly Channel<(LogChannel Channel, EndPoint? Peer)> _joined = System.Threading.Channels.Channel.CreateUnbounded<(LogChannel, EndPoint?)>();
    private int _started;

    /// <param name="options">This node's channel options; the role becomes the primary's.</param>
    public JoinAcceptor(TcpChannelListener listener, LogChannelOptions options, string nodeId, ILoggerFactory logging)
    {
        _listener = listener;
        _options = options.WithRole(ChannelRole.Primary);
        _nodeId = nodeId;
        _logging = logging;
        _log = logging.CreateLogger(PrimaryLog.Category);
    }

    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Set when a channel came up (the host's loop waits on it).</summary>
    public WakeSignal? Wake { get; set; }

    /// <summary>Starts accepting (once; later calls do nothing).</summary>
    public void Start(CancellationToken token)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        PrimaryLog.AcceptingJoins(_log, _nodeId, _listener.LocalEndPoint);
        _ = Task.Run(async () =>
        {
            try
            {
                while (!token.IsCancellationRequested)
                {
                    var pipe = await _listener.AcceptAsync(token).ConfigureAwait(false);
                    _ = Task.Run(() => HandshakeAsync(pipe, token), token);
                }
            }
            catch (OperationCanceledException) { }
            catch (System.Net.Sockets.SocketException) { }
            catch (ObjectDisposedException) { }
        }, token);
    }

    /// <summary>A joining backup whose channel is up, if one is waiting.</summary>
    public bool TryTake(out LogChannel channel, out EndPoint? peer)
    {
        if (_joined.Reader.TryRead(out var j))
        {
            (channel, peer) = j;
            return true;
        }
        (channel, peer) = (null!, null);
        return false;
    }

    private async Task HandshakeAsync(SocketDuplexPipe pipe, CancellationToken token)
    {
        try
        {
            var channel = await LogChannel.AcceptAsync(pipe, _options, _logging.CreateLogger(Processes.NodeProcess.ChannelCategory), token).ConfigureAwait(false);
            _joined.Writer.TryWrite((channel, pipe.RemoteEndPoint));
            Wake?.Set();
        }
        catch (Exception e) when (e is ChannelRejectedException or ChannelProtocolException or IOException)
        {
            // The handshake completed the pipe after its Reject: the socket closes once that is sent
            // (disposing it here could reset the connection before the joiner reads why).
            PrimaryLog.JoinRefused(_log, _nodeId, pipe.RemoteEndPoint, e.Message);
        }
        catch (OperationCanceledException)
        {
            await pipe.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        while (_joined.Reader.TryRead(out var j)) _ = j.Channel.DisposeAsync().AsTask();
    }
}
