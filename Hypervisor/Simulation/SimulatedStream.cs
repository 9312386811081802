namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// One direction of a simulated TCP connection through the fault bench's proxy: bytes in order,
/// split into segments at random points (a stream keeps no message boundaries), each arriving after
/// a random delay. A writer that dies leaves a random prefix of what it had in flight, cut
/// anywhere (in the middle of a frame too), and then the end; a partition drops bytes but keeps the
/// connection open; a close always reaches the reader (the proxy closes one side when the other
/// ends), after whatever survived.
/// </summary>
internal sealed class SimulatedStream(Random random, int maxDelay)
{
    private readonly Queue<(int Due, byte[] Bytes)> _segments = new();
    private int _lastDue;
    private int _stalledUntil;
    private bool _dropping;
    private bool _closed;
    private bool _endDelivered;

    /// <summary>The writer closed its end (or died): nothing more goes in.</summary>
    public bool Closed => _closed;

    public void Write(int step, ReadOnlySpan<byte> bytes)
    {
        if (_closed || _dropping || bytes.IsEmpty) return;
        int parts = Math.Min(bytes.Length, 1 + random.Next(3));
        int at = 0;
        for (int i = 0; i < parts; i++)
        {
            int length = i == parts - 1 ? bytes.Length - at : 1 + random.Next(bytes.Length - at - (parts - 1 - i));
            int due = Math.Max(_lastDue, step + random.Next(maxDelay + 1));
            _lastDue = due;
            _segments.Enqueue((due, bytes.Slice(at, length).ToArray()));
            at += length;
        }
    }

    /// <summary>Appends the bytes due by <paramref name="step"/> to <paramref name="into"/>; true once the end has arrived after them.</summary>
    public bool Deliver(int step, List<byte> into)
    {
        if (step < _stalledUntil) return false;
        while (_segments.Count > 0 && _segments.Peek().Due <= step) into.AddRange(_segments.Dequeue().Bytes);
        if (_closed && _segments.Count == 0) _endDelivered = true;
        return _endDelivered;
    }

    /// <summary>Whether bytes have reached the reader's end by <paramref name="step"/> that it has not taken yet (they wait in its socket).</summary>
    public bool HasArrived(int step) => step >= _stalledUntil && _segments.Count > 0 && _segments.Peek().Due <= step;

    /// <summary>The writer's process died: a random byte prefix of what is in flight still arrives, then the end.</summary>
    public void WriterDied()
    {
        KeepSomeInFlight();
        _closed = true;
    }

    /// <summary>The writer closed its end: what is in flight arrives, then the end.</summary>
    public void Close() => _closed = true;

    /// <summary>A partition: of the bytes in flight, a random prefix arrives, and nothing written from now on; the connection stays open.</summary>
    public void Partition()
    {
        KeepSomeInFlight();
        _dropping = true;
    }

    /// <summary>Nothing arrives before <paramref name="step"/>; then everything queued meanwhile does, in order.</summary>
    public void StallUntil(int step) => _stalledUntil = Math.Max(_stalledUntil, step);

    private void KeepSomeInFlight()
    {
        int total = _segments.Sum(s => s.Bytes.Length);
        int keep = random.Next(total + 1);
        var kept = new List<(int, byte[])>();
        foreach (var (due, bytes) in _segments)
        {
            if (keep == 0) break;
            int n = Math.Min(keep, bytes.Length);
            kept.Add((due, bytes[..n]));
            keep -= n;
        }
        _segments.Clear();
        foreach (var s in kept) _segments.Enqueue(s);
    }
}
