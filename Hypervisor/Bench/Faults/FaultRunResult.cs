using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>Verdict and figures of one run. Times in milliseconds; null where a figure does not apply.</summary>
public sealed class FaultRunResult
{
    public int Index { get; init; }
    public FaultScenario Scenario { get; init; } = FaultCatalogue.Baseline;
    public FaultWorkload Workload { get; init; }
    public int Seed { get; init; }
    public bool Passed => Violations.Count == 0;
    public List<string> Violations { get; init; } = [];
    /// <summary>What happened (who took over, whether the service stopped...).</summary>
    public List<string> Notes { get; init; } = [];
    public double WallSeconds { get; set; }

    /// <summary>Client side: last byte from the old primary to the first from the new one.</summary>
    public double? FailoverMs { get; set; }
    /// <summary>Fault to the survivor declaring its peer dead.</summary>
    public double? DetectionMs { get; set; }
    /// <summary>Peer declared dead to the first output from the survivor (or its going live when no output followed).</summary>
    public double? DrainMs { get; set; }
    public double? MaxLagMs { get; set; }
    public double? LogMbit { get; set; }
    public double? HoldP50Ms { get; set; }
    public double? HoldP99Ms { get; set; }
    public double? HoldP999Ms { get; set; }
    public double? LatencyP50Ms { get; set; }
    public double? LatencyP99Ms { get; set; }
    public double? LatencyP999Ms { get; set; }
    public double? ThroughputRatio { get; set; }
    public int Requests { get; set; }
    public int Retries { get; set; }
    public long OutputBytes { get; set; }
    public int SentLines { get; set; }

    /// <summary>Client request latencies (for the CDF).</summary>
    public List<double> Latencies { get; init; } = [];
    /// <summary>(run ms, backup lag ms) from the primary's periodic samples (for the lag plot).</summary>
    public List<(double Ms, double LagMs)> Lag { get; init; } = [];

    /// <summary>The command that repeats this run.</summary>
    public string Reproduce { get; set; } = "";

    public string Name => $"{Scenario.Name}/{FaultWorkloads.Name(Workload)}";
}
