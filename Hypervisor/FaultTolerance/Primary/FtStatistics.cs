using System.Diagnostics;
using VmFt.Guest.Machine;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.FaultTolerance.Primary;

/// <summary>
/// The figures a primary reports at the end of an FT run: log volume and rate per guest second,
/// how far the backup's acknowledgements trailed (instructions and milliseconds), and how long
/// output was held by the output rule (from the marker that covers it to the ack that frees it).
/// </summary>
public sealed class FtStatistics
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Queue<(ulong Sequence, ulong Position, double ShippedMs, bool Marker)> _unacked = new();
    private readonly List<double> _holdMs = [];
    // Since the last Sample: a benchmark takes its figures over the window it measures.
    private readonly List<double> _recentHoldMs = [];
    private double _recentMaxLagMs;
    private long _logBytes;
    private ulong _maxLagInstructions;
    private double _maxLagMs;

    public long LogBytes => _logBytes;
    public ulong MaxLagInstructions => _maxLagInstructions;

    /// <summary>How long the oldest unacknowledged log event has waited for its ack, in milliseconds (0: all acked).</summary>
    public double CurrentLagMs => _unacked.Count == 0 ? 0 : _clock.Elapsed.TotalMilliseconds - _unacked.Peek().ShippedMs;

    /// <summary>Instructions between the oldest unacknowledged log event and <paramref name="primaryPosition"/> (0: all acked).</summary>
    public ulong CurrentLagInstructions(ulong primaryPosition) =>
        _unacked.Count == 0 ? 0 : primaryPosition - Math.Min(primaryPosition, _unacked.Peek().Position);

    /// <summary>The <paramref name="q"/>-quantile of output-hold times in milliseconds (0 when nothing was released).</summary>
    public double HoldPercentile(double q)
    {
        if (_holdMs.Count == 0) return 0;
        _holdMs.Sort();
        return _holdMs[Math.Min(_holdMs.Count - 1, (int)(q * _holdMs.Count))];
    }

    /// <summary>Times the primary waited because it ran too far ahead of the acknowledgements, and for how long in all.</summary>
    public long LeadStalls { get; private set; }
    public double LeadStallMs { get; private set; }

    public void LeadStalled(double ms)
    {
        LeadStalls++;
        LeadStallMs += ms;
    }

    /// <summary>The backup is gone: what it never acknowledged is no one's to acknowledge (a backup that joins later starts afresh).</summary>
    public void BackupLost() => _unacked.Clear();

    public void Shipped(IReadOnlyList<LogEvent> events, long bytes)
    {
        _logBytes += bytes;
        double now = _clock.Elapsed.TotalMilliseconds;
        foreach (var e in events) _unacked.Enqueue((e.Sequence, e.Position, now, e is OutputMarkerEvent));
    }

    public void Acked(ulong sequence, ulong primaryPosition)
    {
        double now = _clock.Elapsed.TotalMilliseconds;
        while (_unacked.Count > 0 && _unacked.Peek().Sequence <= sequence)
        {
            var e = _unacked.Dequeue();
            if (e.Marker)
            {
                _holdMs.Add(now - e.ShippedMs);
                _recentHoldMs.Add(now - e.ShippedMs);
            }
            _maxLagMs = Math.Max(_maxLagMs, now - e.ShippedMs);
            _recentMaxLagMs = Math.Max(_recentMaxLagMs, now - e.ShippedMs);
            _maxLagInstructions = Math.Max(_maxLagInstructions, primaryPosition - e.Position);
        }
    }

    /// <summary>
    /// One machine-readable line of the figures so far (<c>ft stats: key=value ...</c>), printed
    /// periodically when asked for, so that a benchmark still has them when the primary is killed.
    /// <c>window_stalls</c> and <c>window_stall_ms</c> count the sends that waited for a full send
    /// window, <c>lead_stalls</c> and <c>lead_stall_ms</c> the waits of a primary too far ahead of the
    /// acknowledgements (<see cref="PrimaryHost.MaxLeadInstructions"/>). <c>recent_max_lag_ms</c> and <c>recent_holds</c> (every hold time, comma-separated) cover
    /// only the time since the previous line, so a benchmark can leave out a warm-up.
    /// </summary>
    /// <param name="channel">The logging channel, whose send-window stalls (back-pressure) the line reports too.</param>
    public string Sample(PcMachine machine, VmFt.Channel.LogChannel? channel = null)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        ulong position = machine.Cpu.Position;
        string recent = string.Join(',', _recentHoldMs.Select(h => h.ToString("F3", c)));
        string line = string.Create(c, $"ft stats: instructions={position} guest_s={machine.Now / 1e9:F4} log_bytes={_logBytes} " +
            $"lag_ms={CurrentLagMs:F2} lag_instructions={CurrentLagInstructions(position)} max_lag_ms={_maxLagMs:F2} " +
            $"hold_p50={HoldPercentile(0.5):F3} hold_p99={HoldPercentile(0.99):F3} hold_p999={HoldPercentile(0.999):F3} releases={_holdMs.Count} " +
            $"window_stalls={channel?.WindowStalls ?? 0} window_stall_ms={channel?.WindowStallTime.TotalMilliseconds ?? 0:F1} " +
            $"lead_stalls={LeadStalls} lead_stall_ms={LeadStallMs:F1} " +
            $"recent_max_lag_ms={_recentMaxLagMs:F2} recent_holds={recent}");
        _recentHoldMs.Clear();
        _recentMaxLagMs = 0;
        return line;
    }

    public string Summary(PcMachine machine)
    {
        double guestSeconds = machine.Now / 1e9;
        double mbit = guestSeconds > 0 ? _logBytes * 8 / 1e6 / guestSeconds : 0;
        string P(double q) => _holdMs.Count == 0 ? "-" : HoldPercentile(q).ToString("F2");
        return $"ft summary: log {_logBytes} bytes over {guestSeconds:F2} guest s = {mbit:F3} Mbit/s; " +
            $"backup lag max {_maxLagInstructions} instructions / {_maxLagMs:F1} ms; " +
            $"output hold p50 {P(0.5)} ms, p99 {P(0.99)} ms, p99.9 {P(0.999)} ms over {_holdMs.Count} releases";
    }
}
