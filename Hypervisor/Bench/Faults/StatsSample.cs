using System.Globalization;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>One <c>ft stats:</c> line of the primary (see FtStatistics.Sample), with its time in the run.</summary>
public sealed record StatsSample(double Ms, ulong Instructions, double GuestSeconds, long LogBytes, double LagMs, ulong LagInstructions,
    double MaxLagMs, double HoldP50, double HoldP99, double HoldP999, long Releases)
{
    /// <summary>The largest lag since the previous sample, in milliseconds.</summary>
    public double RecentMaxLagMs { get; init; }

    /// <summary>Sends that waited for a full send window since the channel opened, and how long in all.</summary>
    public long WindowStalls { get; init; }
    public double WindowStallMs { get; init; }

    /// <summary>Every output-hold time since the previous sample, in milliseconds.</summary>
    public IReadOnlyList<double> RecentHolds { get; init; } = [];

    /// <summary>Log rate per guest second in Mbit/s.</summary>
    public double LogMbit => GuestSeconds > 0 ? LogBytes * 8 / 1e6 / GuestSeconds : 0;

    public static StatsSample? TryParse(double ms, string line)
    {
        const string marker = "ft stats: ";
        int at = line.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return null;
        var values = new Dictionary<string, string>();
        foreach (var part in line[(at + marker.Length)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq > 0) values[part[..eq]] = part[(eq + 1)..];
        }
        double D(string k) => values.TryGetValue(k, out var v) && double.TryParse(v, CultureInfo.InvariantCulture, out double d) ? d : 0;
        ulong U(string k) => values.TryGetValue(k, out var v) && ulong.TryParse(v, CultureInfo.InvariantCulture, out ulong u) ? u : 0;
        if (!values.ContainsKey("log_bytes")) return null;
        var holds = new List<double>();
        if (values.TryGetValue("recent_holds", out var list))
            foreach (var h in list.Split(',', StringSplitOptions.RemoveEmptyEntries))
                if (double.TryParse(h, CultureInfo.InvariantCulture, out double d)) holds.Add(d);
        return new StatsSample(ms, U("instructions"), D("guest_s"), (long)U("log_bytes"), D("lag_ms"), U("lag_instructions"),
            D("max_lag_ms"), D("hold_p50"), D("hold_p99"), D("hold_p999"), (long)U("releases"))
        {
            RecentMaxLagMs = D("recent_max_lag_ms"),
            WindowStalls = (long)U("window_stalls"),
            WindowStallMs = D("window_stall_ms"),
            RecentHolds = holds,
        };
    }
}
