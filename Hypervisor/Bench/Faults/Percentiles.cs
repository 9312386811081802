namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>Nearest-rank percentiles of a sample.</summary>
public static class Percentiles
{
    /// <summary>The <paramref name="q"/>-quantile (0..1) of <paramref name="values"/>, or null when there are none.</summary>
    public static double? Of(IEnumerable<double> values, double q)
    {
        var sorted = values.ToArray();
        if (sorted.Length == 0) return null;
        Array.Sort(sorted);
        int rank = (int)Math.Ceiling(q * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}
