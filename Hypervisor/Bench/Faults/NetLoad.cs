using VmFt.Hypervisor.Network;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// The net workload's client: frames to the <c>netecho</c> guest through the TAP the run's relay
/// owns, from a raw socket in the run's namespace, open loop (Poisson arrivals at the offered rate,
/// each arrival one frame at once, whatever the answers do); and a capture of the TAP (a second raw
/// socket that sees every frame on it, both ways, as tcpdump would), which is what the verdict
/// reads: the frames that went to the guest in the order the relay took them, and every frame the
/// relay put on the TAP, each as often as it did.
/// </summary>
public sealed class NetLoad : IDisposable
{
    private readonly PacketSocket _sender, _capture;
    private readonly Func<double> _now;
    private readonly double _rate;
    private readonly Random _random;
    private readonly object _gate = new();
    private readonly List<double> _sentMs = [];
    private readonly List<int> _toGuest = [];
    private readonly List<NetAnswer> _answers = [];
    private int _foreign;
    private uint _captureDrops;
    private readonly Thread _reader;
    private volatile bool _stopping;

    private NetLoad(PacketSocket sender, PacketSocket capture, Func<double> nowMs, double rate, int seed)
    {
        (_sender, _capture, _now, _rate, _random) = (sender, capture, nowMs, rate, new Random(seed));
        _reader = new Thread(ReadCapture) { IsBackground = true, Name = "net bench capture" };
        _reader.Start();
    }

    /// <summary>Opens the client's two sockets on <paramref name="interfaceName"/> in namespace <paramref name="netns"/>.</summary>
    public static NetLoad Open(string netns, string interfaceName, Func<double> nowMs, double rate, int seed)
    {
        var capture = PacketSocket.Open(interfaceName, PacketSocket.AllProtocols, netns);
        try
        {
            // Protocol 0: a socket that only sends (it takes no frame in).
            return new NetLoad(PacketSocket.Open(interfaceName, 0, netns), capture, nowMs, rate, seed);
        }
        catch
        {
            capture.Dispose();
            throw;
        }
    }

    /// <summary>Frames sent before the measured load (judged, but left out of the latency figures).</summary>
    public int WarmupFrames { get; set; }

    /// <summary>Frames sent so far.</summary>
    public int Sent
    {
        get { lock (_gate) return _sentMs.Count; }
    }

    /// <summary>What the capture holds so far, and when each frame was sent.</summary>
    public NetCapture Snapshot()
    {
        lock (_gate) return new NetCapture([.. _sentMs], [.. _toGuest], [.. _answers], _foreign, _captureDrops);
    }

    /// <summary>The open loop for <paramref name="duration"/>: a frame per arrival, stamped with the tick that released it.</summary>
    public async Task RunLoadAsync(TimeSpan duration, CancellationToken token)
    {
        double start = _now(), end = start + duration.TotalMilliseconds;
        double next = start + NextGap();
        while (!token.IsCancellationRequested && _now() < end)
        {
            double now = _now();
            while (next <= now && next < end)
            {
                Send(now);
                next += NextGap();
            }
            await Task.Delay(1, token).ConfigureAwait(false);
        }
    }

    private void Send(double at)
    {
        int seq;
        lock (_gate)
        {
            seq = _sentMs.Count;
            _sentMs.Add(at);
        }
        // A frame the kernel refuses is the network's loss: the verdict finds it missing from the capture.
        _sender.Send(NetechoFrames.Request(seq));
    }

    private double NextGap() => -Math.Log(1 - _random.NextDouble()) * 1000 / _rate;

    /// <summary>
    /// After the load: waits until every frame sent has an answer on the TAP, or no answer came for
    /// <paramref name="quiet"/> (the service stopped), or <paramref name="ceiling"/> passed. True: all answered.
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan quiet, TimeSpan ceiling)
    {
        double start = _now(), last = start + ceiling.TotalMilliseconds;
        while (true)
        {
            double now = _now(), lastAnswer;
            int answered, sent;
            lock (_gate)
            {
                answered = _answers.Count;
                sent = _sentMs.Count;
                lastAnswer = answered > 0 ? _answers[^1].Ms : start;
            }
            if (answered >= sent) return true;
            if (now >= last || now >= Math.Max(start, lastAnswer) + quiet.TotalMilliseconds) return false;
            await Task.Delay(5).ConfigureAwait(false);
        }
    }

    private void ReadCapture()
    {
        var frame = new byte[65536];
        while (!_stopping)
        {
            int n = _capture.Receive(frame, 50, out bool outgoing);
            double at = _now();
            uint drops = _capture.TakeDrops();
            if (n == 0 && drops == 0) continue;
            var span = frame.AsSpan(0, n);
            lock (_gate)
            {
                _captureDrops += drops;
                if (n == 0) continue;
                if (outgoing) _toGuest.Add(NetechoFrames.IsRequest(span) ? BitConverter.ToInt32(span[18..22]) : -1);
                else if (NetechoFrames.TryReadAnswer(span, out int seq, out int count)) _answers.Add(new NetAnswer(seq, count, at));
                else _foreign++;
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _reader.Join();
        _sender.Dispose();
        _capture.Dispose();
    }
}

/// <summary>An answer on the TAP: the request it answers, the guest's count of frames received before it, when the capture saw it (run ms).</summary>
public readonly record struct NetAnswer(int Seq, int Count, double Ms);

/// <summary>
/// What the net workload's capture of the TAP held at the end of a run.
/// </summary>
/// <param name="SentMs">When each request was sent, by number.</param>
/// <param name="ToGuest">Every frame that went towards the guest, in order: a request's number, or -1 for a frame that is none of the client's.</param>
/// <param name="Answers">Every answer the relay put on the TAP, in order, repeats included.</param>
/// <param name="Foreign">Frames the relay put on the TAP that are no answer to any request.</param>
/// <param name="CaptureDrops">Frames the capture socket itself lost (its buffer full): the verdict is then not to be trusted.</param>
public sealed record NetCapture(IReadOnlyList<double> SentMs, IReadOnlyList<int> ToGuest, IReadOnlyList<NetAnswer> Answers, int Foreign, uint CaptureDrops);
