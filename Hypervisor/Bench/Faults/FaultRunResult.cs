using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>Verdict and figures of one run. Times in milliseconds; null where a figure does not apply.</summary>
public sealed class FaultRunResult
{
    public int Index { get; init; }
    public FaultScenario Scenario { get; init; } = FaultCatalogue.Baseline;
    public FaultWorkload Workload { get; init; }
    public int Seed { get; init; }
    public bool Passed => Violations.Count == 0 && StartupFailure is null;
    /// <summary>PASS, FAIL (a violation) or NOT STARTED (start-up failed every attempt: fault tolerance was not judged).</summary>
    public string Verdict => StartupFailure is not null ? "NOT STARTED" : Violations.Count == 0 ? "PASS" : "FAIL";
    /// <summary>The verdict with its first reason, for one line.</summary>
    public string VerdictLine => StartupFailure is { } s ? $"NOT STARTED: {s}" : Violations.Count == 0 ? "PASS" : $"FAIL: {string.Join("; ", Violations)}";
    /// <summary>Why the cluster could not be started after every attempt (the run then judged nothing), or null.</summary>
    public string? StartupFailure { get; set; }
    /// <summary>Folders (relative to the report) with the complete evidence of a failed run or a failed start-up.</summary>
    public List<string> EvidencePaths { get; init; } = [];
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
    /// <summary>The open-loop request rate of this run (kvstore; the session may run several side by side).</summary>
    public double Rate { get; init; }
    /// <summary>Log bytes the primary shipped over the measured load per request that arrived in it.</summary>
    public double? LogBytesPerRequest { get; set; }
    /// <summary>Percent of one CPU each node (the primary, or the guest alone in a solo run; the backup) used over the measured load and over an idle stretch after it.</summary>
    public double? PrimaryCpuLoad { get; set; }
    public double? PrimaryCpuIdle { get; set; }
    public double? BackupCpuLoad { get; set; }
    public double? BackupCpuIdle { get; set; }
    public int Requests { get; set; }
    public int Retries { get; set; }
    public long OutputBytes { get; set; }
    public int SentLines { get; set; }

    /// <summary>Every failover of a repair run, in order (the first is also <see cref="FailoverMs"/>, <see cref="DetectionMs"/>, <see cref="DrainMs"/>).</summary>
    public List<FailoverSample> Failovers { get; init; } = [];
    /// <summary>Every backup that joined a live node during the run, in order.</summary>
    public List<JoinSample> Joins { get; init; } = [];

    /// <summary>The client-side failover times of the run: each of a repair run's, else the one.</summary>
    public IEnumerable<double> FailoverTimes =>
        Failovers.Count > 0 ? Failovers.Where(f => f.FailoverMs is not null).Select(f => f.FailoverMs!.Value) : FailoverMs is { } x ? [x] : [];

    /// <summary>Client request latencies (for the CDF).</summary>
    public List<double> Latencies { get; init; } = [];
    /// <summary>(run ms, backup lag ms) from the primary's periodic samples (for the lag plot).</summary>
    public List<(double Ms, double LagMs)> Lag { get; init; } = [];

    /// <summary>The command that repeats this run.</summary>
    public string Reproduce { get; set; } = "";

    public string Name => $"{Scenario.Name}/{FaultWorkloads.Name(Workload)}";
}
