using System.Net;
using System.Net.Sockets;

namespace VmFt.Hypervisor.Serial;

/// <summary>
/// The serial console on a TCP port, as QEMU's <c>-serial tcp::PORT,server</c>: listens, serves
/// one client at a time; output while no client is connected is dropped, as on an unplugged line
/// (<see cref="WaitForClient"/> holds the start until the first one is there, as QEMU's <c>wait</c>).
/// </summary>
public sealed class TcpSerialBackend : QueuedSerialBackend
{
    private readonly TcpListener _listener;
    private readonly object _gate = new();
    private NetworkStream? _client;
    private readonly MemoryStream _pending = new();
    private readonly ManualResetEventSlim _connected = new();

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public TcpSerialBackend(IPEndPoint endPoint)
    {
        _listener = new TcpListener(endPoint);
        _listener.Start();
        var acceptor = new Thread(AcceptLoop) { IsBackground = true, Name = "serial tcp" };
        acceptor.Start();
    }

    private void AcceptLoop()
    {
        var buffer = new byte[4096];
        while (true)
        {
            TcpClient client;
            try { client = _listener.AcceptTcpClient(); }
            // The listener was stopped (Dispose): the acceptor ends quietly.
            catch (SocketException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (InvalidOperationException) { return; }
            client.NoDelay = true;
            var stream = client.GetStream();
            lock (_gate) _client = stream;
            _connected.Set();
            try
            {
                int n;
                while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
                    Enqueue(buffer.AsSpan(0, n));
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
            lock (_gate) _client = null;
            client.Dispose();
        }
    }

    /// <summary>Blocks until a client has connected (at once if one already did).</summary>
    public void WaitForClient() => _connected.Wait();

    public override void Write(byte value) => _pending.WriteByte(value);

    public override void Flush()
    {
        if (_pending.Length == 0) return;
        lock (_gate)
        {
            try { _client?.Write(_pending.GetBuffer(), 0, (int)_pending.Length); }
            catch (IOException) { _client = null; }
        }
        _pending.SetLength(0);
    }

    public override void Dispose()
    {
        Flush();
        _listener.Stop();
        _connected.Dispose();
        base.Dispose();
    }
}
