using System.Net;
using System.Net.Sockets;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>
/// Serves one <see cref="ReplaySession"/> to gdb over TCP, one gdb at a time. A gdb that connects
/// while another is attached is told so on its console and disconnected; the attached one is not
/// disturbed. When gdb detaches or disconnects, the server waits for the next one (the session
/// stays where it was); gdb's <c>kill</c> ends the server.
/// </summary>
public sealed class GdbServer : IDisposable
{
    private readonly ReplaySession _session;
    private readonly TcpListener _listener;
    private readonly TextWriter _log;
    private readonly object _lock = new();
    private bool _busy;
    private bool _accepting = true;

    public const string BusyMessage = "another gdb is already attached to this recording";

    public GdbServer(ReplaySession session, IPEndPoint endpoint, TextWriter? log = null)
    {
        _session = session;
        _log = TextWriter.Synchronized(log ?? TextWriter.Null);
        _listener = new TcpListener(endpoint);
        _listener.Start(1);
    }

    /// <summary>The bound address (the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Serves until gdb kills the target or <paramref name="cancellation"/> fires.</summary>
    public void Run(CancellationToken cancellation = default)
    {
        using var pending = new System.Collections.Concurrent.BlockingCollection<Socket>();
        using var stop = cancellation.Register(() => _listener.Stop());
        var acceptor = new Thread(() => AcceptLoop(pending)) { IsBackground = true, Name = "gdb accept" };
        acceptor.Start();
        foreach (var socket in pending.GetConsumingEnumerable())
        {
            var peer = socket.RemoteEndPoint;
            _log.WriteLine($"gdb attached from {peer}");
            var handler = new GdbCommandHandler(_session);
            socket.NoDelay = true;
            var end = new GdbConnection(new NetworkStream(socket, ownsSocket: true), handler).Run();
            _log.WriteLine(end switch
            {
                GdbSessionEnd.Detached => $"gdb detached at position {_session.Position}",
                GdbSessionEnd.Killed => $"gdb killed the session at position {_session.Position}",
                _ => $"gdb disconnected at position {_session.Position}",
            });
            lock (_lock)
            {
                _busy = false;
                if (end == GdbSessionEnd.Killed) _accepting = false;
                Monitor.PulseAll(_lock);
                if (!_accepting) pending.CompleteAdding();
            }
        }
        _listener.Stop();
        // Sockets that were admitted but not served (the server stopped meanwhile) are closed.
        foreach (var leftover in pending.GetConsumingEnumerable()) leftover.Dispose();
    }

    private void AcceptLoop(System.Collections.Concurrent.BlockingCollection<Socket> pending)
    {
        try
        {
            while (true)
            {
                Socket socket = _listener.AcceptSocket();
                ThreadPool.QueueUserWorkItem(_ => Admit(socket, pending));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The listener was stopped.
        }
        finally
        {
            lock (_lock)
            {
                // After a kill the serving loop has already closed the queue (and may have disposed it).
                if (_accepting)
                {
                    _accepting = false;
                    if (!_busy) pending.CompleteAdding();
                }
            }
        }
    }

    /// <summary>
    /// Serves the newcomer if no gdb is attached. A gdb that is just leaving (its connection dropped
    /// a moment ago and the server has not noticed yet) gets a grace period, so that a gdb that
    /// reconnects at once is not turned away.
    /// </summary>
    private void Admit(Socket socket, System.Collections.Concurrent.BlockingCollection<Socket> pending)
    {
        bool admitted;
        lock (_lock)
        {
            long deadline = Environment.TickCount64 + 1000;
            while (_busy && _accepting)
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0) break;
                Monitor.Wait(_lock, (int)left);
            }
            admitted = !_busy && _accepting;
            if (admitted)
            {
                _busy = true;
                pending.Add(socket);
            }
        }
        if (!admitted) Refuse(socket);
    }

    /// <summary>
    /// Answers the newcomer's first packet (gdb's qSupported) with an error text, which gdb prints
    /// as "Remote failure reply: E.another gdb ...", then drains what it sends until it falls
    /// silent and hangs up (closing with unread data would reset the connection instead).
    /// </summary>
    private void Refuse(Socket socket)
    {
        try
        {
            using var stream = new NetworkStream(socket, ownsSocket: true);
            socket.ReceiveTimeout = 2000;
            var decoder = new GdbPacketDecoder(GdbCommandHandler.PacketSize);
            var items = new List<GdbInbound>();
            var buffer = new byte[4096];
            while (!items.Exists(i => i.Kind == GdbInboundKind.Packet))
            {
                int n = stream.Read(buffer);
                if (n == 0) return;
                decoder.Feed(buffer.AsSpan(0, n), items);
            }
            stream.Write("+"u8);
            stream.Write(GdbFraming.Frame("E." + BusyMessage));
            stream.Flush();
            socket.ReceiveTimeout = 300;
            while (stream.Read(buffer) > 0) { }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            _log.WriteLine("refused a second gdb: one is already attached");
        }
    }

    public void Dispose() => _listener.Stop();
}
