using System.Text;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// The kvstore client load: many logical clients multiplexed over the one relay connection (the
/// guest has one serial console), driven open loop.
/// <para>Arrivals follow a Poisson process at the configured rate, whatever the replies do; an
/// arrival takes the next idle client, or waits for one, and its latency counts from the arrival
/// (the generator's tick that released it), so queueing behind a slow or failing server is
/// measured, not hidden, and the generator's own timer is not.</para>
/// <para>Each client has at most one request in flight and numbers its requests 1, 2, 3...:
/// kvstore keeps each client's last request id and reply, so a request sent again after a
/// timeout (same id, same line) gets the stored reply and is not executed twice. That is what
/// makes retries safe; the checker then sees one reply per send, and INCR on a per-client counter
/// proves nothing ran twice (its values must go 1, 2, 3... over the client's distinct ids).</para>
/// </summary>
public sealed class LoadGenerator
{
    private readonly Stream _stream;
    private readonly ClientTrace _trace;
    private readonly Func<double> _now;
    private readonly int _clientCount;
    private readonly double _rate;
    private readonly double _retryMs;
    private readonly Random _random;
    private readonly object _gate = new();
    private readonly ClientRequest?[] _outstanding;
    private readonly long[] _nextId;
    private readonly Queue<(double Arrival, bool Burst)> _backlog = new();
    private readonly StringBuilder _partialLine = new();
    private int _cursor;
    private bool _broken;
    private double _lastReplyMs = double.NegativeInfinity; // when a request in flight last got its reply
    private bool _warmingUp;

    public LoadGenerator(Stream stream, ClientTrace trace, Func<double> nowMs, int clients, double rate, TimeSpan retryTimeout, int seed)
    {
        _stream = stream;
        _trace = trace;
        _now = nowMs;
        _clientCount = clients;
        _rate = rate;
        _retryMs = retryTimeout.TotalMilliseconds;
        _random = new Random(seed);
        _outstanding = new ClientRequest?[clients];
        _nextId = new long[clients];
        Array.Fill(_nextId, 1);
    }

    /// <summary>Output bytes received so far.</summary>
    public long Received
    {
        get { lock (_gate) return _trace.Transcript.Length; }
    }

    /// <summary>The output so far.</summary>
    public string Snapshot()
    {
        lock (_gate) return _trace.Transcript.ToString();
    }

    /// <summary>Reads the relay's output until the connection ends; run it on its own thread.</summary>
    public void ReadAll()
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = _stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                double at = _now();
                string text = Encoding.ASCII.GetString(buffer, 0, n);
                lock (_gate)
                {
                    _trace.Chunks.Add((_trace.Transcript.Length, at, n));
                    _trace.Transcript.Append(text);
                    foreach (char ch in text)
                    {
                        if (ch != '\n')
                        {
                            _partialLine.Append(ch);
                            continue;
                        }
                        OnReply(_partialLine.ToString(), at);
                        _partialLine.Clear();
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    private void OnReply(string line, double at)
    {
        // "<client> <id> <reply>": the first reply to the request in flight completes it; others
        // (the stored reply to a retry, the banner) change nothing here; the checker judges them.
        var parts = line.Split(' ', 3);
        if (parts.Length < 3 || parts[0].Length < 2 || parts[0][0] != 'c' || !int.TryParse(parts[0].AsSpan(1), out int client) || client >= _clientCount) return;
        if (!long.TryParse(parts[1], out long id)) return;
        if (_outstanding[client] is { } r && r.Id == id)
        {
            r.ReplyMs = at;
            _outstanding[client] = null;
            _lastReplyMs = at;
        }
    }

    /// <summary>Every client's next request becomes a GET of its large value, all at once: a burst of output.</summary>
    public void Burst()
    {
        lock (_gate)
            for (int i = 0; i < _clientCount; i++) _backlog.Enqueue((_now(), true));
    }

    /// <summary>
    /// Load before the measured load: every client's first request (its large PUT) and the open loop
    /// for <paramref name="duration"/>, then every reply. Freshly started nodes run the guest's request
    /// path for the first time (code still being compiled, caches cold); what that costs is start-up,
    /// not fault tolerance, and stays out of the latency figures. False if not all replies came.
    /// </summary>
    public async Task<bool> WarmUpAsync(TimeSpan duration, TimeSpan quiet, TimeSpan ceiling, CancellationToken token)
    {
        _warmingUp = true;
        try
        {
            lock (_gate)
                for (int i = 0; i < _clientCount; i++) _backlog.Enqueue((_now(), false));
            await RunLoadAsync(duration, token, scheduled: false).ConfigureAwait(false);
            return await DrainAsync(quiet, token, ceiling).ConfigureAwait(false);
        }
        finally
        {
            _warmingUp = false;
        }
    }

    /// <summary>The open loop for <paramref name="duration"/>: arrivals, sends and retries.</summary>
    public Task RunLoadAsync(TimeSpan duration, CancellationToken token) => RunLoadAsync(duration, token, scheduled: true);

    private async Task RunLoadAsync(TimeSpan duration, CancellationToken token, bool scheduled)
    {
        double start = _now(), end = start + duration.TotalMilliseconds;
        double next = start + NextGap();
        while (!token.IsCancellationRequested && _now() < end && !_broken)
        {
            double now = _now();
            lock (_gate)
            {
                while (_rate > 0 && next <= now && next < end)
                {
                    // The arrival counts from the tick that released it, not from its drawn moment:
                    // the tick (Task.Delay(1), a millisecond or more) is the generator's own lateness,
                    // which was up to a millisecond of every latency. Waiting for a client still counts.
                    _backlog.Enqueue((now, false));
                    if (scheduled) _trace.Scheduled++;
                    next += NextGap();
                }
            }
            Pump(now);
            await Task.Delay(1, token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// After the load: keeps sending what was scheduled and retrying until every request has a
    /// reply, or until no reply came for <paramref name="quiet"/> (a service that stopped), or
    /// <paramref name="ceiling"/> passed (a slow machine that keeps answering gets that long).
    /// True: all answered.
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan quiet, CancellationToken token, TimeSpan? ceiling = null)
    {
        double start = _now(), last = start + (ceiling ?? quiet).TotalMilliseconds;
        while (!token.IsCancellationRequested && !_broken)
        {
            double now = _now();
            lock (_gate)
            {
                if (_backlog.Count == 0 && Array.TrueForAll(_outstanding, r => r is null)) return true;
                if (now >= last || now >= Math.Max(start, _lastReplyMs) + quiet.TotalMilliseconds) break;
            }
            Pump(now);
            await Task.Delay(2, token).ConfigureAwait(false);
        }
        lock (_gate) return _backlog.Count == 0 && Array.TrueForAll(_outstanding, r => r is null);
    }

    private double NextGap() => _rate <= 0 ? double.PositiveInfinity : -Math.Log(1 - _random.NextDouble()) * 1000 / _rate;

    private void Pump(double now)
    {
        var toSend = new List<ClientRequest>();
        lock (_gate)
        {
            // Retries: same id, same line.
            foreach (var r in _outstanding)
                if (r is not null && now - r.LastSentMs >= _retryMs) toSend.Add(r);
            // New requests to idle clients, oldest arrival first.
            while (_backlog.Count > 0)
            {
                int client = -1;
                for (int k = 0; k < _clientCount; k++)
                {
                    int c = (_cursor + k) % _clientCount;
                    if (_outstanding[c] is null)
                    {
                        client = c;
                        break;
                    }
                }
                if (client < 0) break;
                _cursor = (client + 1) % _clientCount;
                var (arrival, burst) = _backlog.Dequeue();
                long id = _nextId[client]++;
                var request = new ClientRequest($"c{client}", id, Compose(client, id, burst), arrival, burst, _warmingUp);
                _outstanding[client] = request;
                _trace.Requests.Add(request);
                toSend.Add(request);
            }
            foreach (var r in toSend)
            {
                r.Sends++;
                r.LastSentMs = now;
                _trace.SentLines.Add(r.Line);
            }
        }
        if (toSend.Count == 0) return;
        var bytes = new StringBuilder();
        foreach (var r in toSend) bytes.Append(r.Line).Append('\n');
        try
        {
            var data = Encoding.ASCII.GetBytes(bytes.ToString());
            _stream.Write(data, 0, data.Length);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            _broken = true; // the relay is gone: nothing more can be sent
        }
    }

    /// <summary>The request line: the first PUTs the client's large value; then a mix of INCR, PUT and GET.</summary>
    private string Compose(int client, long id, bool burst)
    {
        string prefix = $"c{client} {id} ";
        if (id == 1) return prefix + $"PUT big{client} " + new string((char)('a' + client % 26), 200) + $"-{client}";
        if (burst) return prefix + $"GET big{client}";
        int pick = _random.Next(10), key = _random.Next(8);
        return pick switch
        {
            < 3 => prefix + $"INCR ctr{client}",
            < 6 => prefix + $"PUT k{client}-{key} v{id}",
            < 9 => prefix + $"GET k{client}-{key}",
            _ => prefix + $"GET big{client}",
        };
    }
}
