namespace VmFt.Hypervisor.Simulation;

/// <summary>A FIFO link of the simulator with random latency (TCP-like: in order, never duplicated).</summary>
internal sealed class SimulatedLink<T>(Random random, int maxDelay)
{
    private readonly Queue<(int Due, T Message)> _queue = new();
    private int _lastDue;
    private int _stalledUntil;

    /// <summary>Messages sent while cut are lost.</summary>
    public bool Cut { get; set; }

    public void Send(int step, T message)
    {
        if (Cut) return;
        int due = Math.Max(_lastDue, step + random.Next(maxDelay + 1));
        _lastDue = due;
        _queue.Enqueue((due, message));
    }

    public IEnumerable<T> Deliver(int step)
    {
        if (step < _stalledUntil) yield break;
        while (_queue.Count > 0 && _queue.Peek().Due <= step)
            yield return _queue.Dequeue().Message;
    }

    /// <summary>Nothing arrives before <paramref name="step"/>; then everything queued meanwhile does, in order.</summary>
    public void StallUntil(int step) => _stalledUntil = Math.Max(_stalledUntil, step);

    /// <summary>
    /// The connection broke (its sender died, or the network between): of what was in flight, a
    /// random prefix still arrives (a stream delivers a prefix of what was written, never a
    /// subsequence). Together with a fault at any step this puts crash points at every message
    /// boundary.
    /// </summary>
    public void LoseSomeInFlight()
    {
        var kept = _queue.Take(random.Next(_queue.Count + 1)).ToList();
        _queue.Clear();
        foreach (var m in kept) _queue.Enqueue(m);
    }

    /// <summary>A connection breaks: some of what is in flight is lost, and so is everything sent until <see cref="Cut"/> is cleared.</summary>
    public void Break()
    {
        Cut = true;
        LoseSomeInFlight();
    }
}
