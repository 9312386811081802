using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// A TCP proxy on loopback between the primary and the backup's logging channel (or between the
/// relay and a node), which can delay, throttle, pause, partition or reset the stream. Each
/// direction has a reader (socket to a queue, stamping each chunk with its arrival time) and a
/// writer (queue to socket), so a delay shifts the stream in time without cutting its rate.
/// <para>A partition is a black hole, as a broken network is: bytes are read and dropped, both
/// connections stay open, and only the peers' heartbeat timeouts can notice. When one end closes
/// (a node died), the other end is closed too, as the kernel would have told it directly.</para>
/// </summary>
public sealed class ChannelProxy : IDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _gate = new();
    private readonly List<Socket> _sockets = [];
    private long _delayTicks;
    private long _bytesPerSecond;
    private volatile bool _paused;
    private volatile bool _partitioned;
    private long _forwarded;
    private long _dropped;
    private int _connections;
    private readonly List<string> _events = [];

    private ChannelProxy(IPEndPoint target, Func<double>? clock)
    {
        _target = target;
        _eventClock = clock ?? (() => _clock.Elapsed.TotalMilliseconds);
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    /// <summary>Listens on a free loopback port and forwards every connection to <paramref name="target"/>.</summary>
    /// <param name="clock">Milliseconds stamped on its <see cref="Events"/> (default: since it started).</param>
    public static ChannelProxy Start(IPEndPoint target, Func<double>? clock = null) => new(target, clock);

    private readonly Func<double> _eventClock;

    /// <summary>What the proxy did, time-stamped: connections opened and closed, faults switched on, bytes moved (for the evidence of a run).</summary>
    public IReadOnlyList<string> Events
    {
        get { lock (_events) return [.. _events, $"{_eventClock(),10:F1} totals: {BytesForwarded} bytes forwarded, {BytesDropped} dropped"]; }
    }

    private void Note(string what)
    {
        lock (_events) _events.Add($"{_eventClock(),10:F1} {what}");
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Added to every chunk's forwarding time, in both directions.</summary>
    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set
        {
            Interlocked.Exchange(ref _delayTicks, value.Ticks);
            Note($"delay {value.TotalMilliseconds:F0} ms each way");
        }
    }

    /// <summary>Bandwidth limit per direction in bytes per second (0: none).</summary>
    public long BytesPerSecond
    {
        get => Interlocked.Read(ref _bytesPerSecond);
        set
        {
            Interlocked.Exchange(ref _bytesPerSecond, value);
            Note($"throttle {value} bytes/s each way");
        }
    }

    /// <summary>While set nothing is forwarded (bytes wait, in order, and then go).</summary>
    public bool Paused
    {
        get => _paused;
        set
        {
            _paused = value;
            Note(value ? "paused: bytes wait" : "resumed: what waited goes now");
        }
    }

    /// <summary>True after <see cref="Partition"/>: everything is dropped from then on.</summary>
    public bool Partitioned => _partitioned;

    /// <summary>Bytes written to the other side so far (both directions).</summary>
    public long BytesForwarded => Interlocked.Read(ref _forwarded);

    /// <summary>Bytes dropped by the partition.</summary>
    public long BytesDropped => Interlocked.Read(ref _dropped);

    /// <summary>Drops everything from now on, both directions; connections stay open.</summary>
    public void Partition()
    {
        _partitioned = true;
        Note($"partition: everything dropped from now on (forwarded so far: {BytesForwarded} bytes)");
    }

    /// <summary>
    /// Breaks every open connection now, both ends, as a network reset would: what was queued in
    /// the proxy is lost; the peers see their connection end. New connections are served as before.
    /// </summary>
    public void Reset()
    {
        Socket[] open;
        lock (_gate)
        {
            open = [.. _sockets];
            _sockets.Clear();
        }
        Note($"reset: closing {open.Length} sockets");
        Close(open);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var inbound = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
                _ = ServeAsync(inbound);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ServeAsync(Socket inbound)
    {
        int id = Interlocked.Increment(ref _connections);
        Note($"connection {id}: accepted from {inbound.RemoteEndPoint}");
        var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        inbound.NoDelay = true;
        lock (_gate)
        {
            _sockets.Add(inbound);
            _sockets.Add(outbound);
        }
        // The target may not listen yet (the backup is starting): keep trying for a while, as a
        // client would, rather than refusing a connection the target itself would have accepted.
        var deadline = _clock.Elapsed + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                await outbound.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
                break;
            }
            catch (SocketException e) when (_clock.Elapsed < deadline)
            {
                if (_clock.Elapsed + TimeSpan.FromMilliseconds(50) >= deadline) Note($"connection {id}: {_target} still refuses: {e.Message}");
                outbound.Dispose();
                outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                lock (_gate) _sockets.Add(outbound);
                try
                {
                    await Task.Delay(50, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Close(inbound, outbound);
                    return;
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                Note($"connection {id}: cannot reach {_target}: {e.Message}");
                Close(inbound, outbound);
                return;
            }
        }
        Note($"connection {id}: connected to {_target}");
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var a = PumpAsync(inbound, outbound, ended);
        var b = PumpAsync(outbound, inbound, ended);
        var first = await Task.WhenAny(a, b).ConfigureAwait(false);
        // One side is gone: close both so the other end learns it too.
        Note($"connection {id}: the {(first == a ? "connecting" : "target")} side ended: closing both");
        ended.Cancel();
        Close(inbound, outbound);
        await Task.WhenAll(a, b).ConfigureAwait(false);
    }

    private async Task PumpAsync(Socket from, Socket to, CancellationTokenSource ended)
    {
        var queue = System.Threading.Channels.Channel.CreateUnbounded<(long At, byte[] Data)>(new() { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(() => WriteLoopAsync(queue.Reader, to, ended.Token));
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None, ended.Token).ConfigureAwait(false);
                if (n == 0) break;
                if (_partitioned)
                {
                    Interlocked.Add(ref _dropped, n);
                    continue;
                }
                queue.Writer.TryWrite((_clock.ElapsedTicks, buffer.AsSpan(0, n).ToArray()));
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        queue.Writer.TryComplete();
        ended.Cancel();
        try
        {
            await writer.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task WriteLoopAsync(System.Threading.Channels.ChannelReader<(long At, byte[] Data)> queue, Socket to, CancellationToken token)
    {
        double budget = 0; // throttle: bytes that may go now (a token bucket refilled at BytesPerSecond)
        long refilled = _clock.ElapsedTicks;
        try
        {
            while (await queue.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (queue.TryRead(out var chunk))
                {
                    // Delay: each chunk leaves no earlier than its arrival plus the delay.
                    long due = chunk.At + (long)(Delay.TotalSeconds * Stopwatch.Frequency);
                    while (_clock.ElapsedTicks < due)
                        await Task.Delay(TimeSpan.FromSeconds(Math.Max(0.0005, (double)(due - _clock.ElapsedTicks) / Stopwatch.Frequency)), token).ConfigureAwait(false);
                    while (_paused && !_partitioned) await Task.Delay(2, token).ConfigureAwait(false);
                    if (_partitioned)
                    {
                        Interlocked.Add(ref _dropped, chunk.Data.Length);
                        continue;
                    }
                    int sent = 0;
                    while (sent < chunk.Data.Length)
                    {
                        int piece = chunk.Data.Length - sent;
                        long rate = BytesPerSecond;
                        if (rate > 0)
                        {
                            long now = _clock.ElapsedTicks;
                            budget = Math.Min(budget + (now - refilled) * (double)rate / Stopwatch.Frequency, Math.Max(rate / 50.0, 1500));
                            refilled = now;
                            if (budget < 1)
                            {
                                await Task.Delay(TimeSpan.FromSeconds(Math.Max(0.001, (1 - budget) / rate)), token).ConfigureAwait(false);
                                continue;
                            }
                            piece = (int)Math.Min(piece, Math.Floor(budget));
                            budget -= piece;
                        }
                        await to.SendAsync(chunk.Data.AsMemory(sent, piece), SocketFlags.None, token).ConfigureAwait(false);
                        sent += piece;
                        Interlocked.Add(ref _forwarded, piece);
                    }
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private void Close(params Socket[] sockets)
    {
        foreach (var s in sockets)
        {
            try
            {
                s.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
            s.Dispose();
        }
    }

    /// <summary>Stops the proxy; a second call does nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _listener.Stop();
        Socket[] all;
        lock (_gate) all = [.. _sockets];
        Close(all);
        _stop.Dispose();
    }
}
