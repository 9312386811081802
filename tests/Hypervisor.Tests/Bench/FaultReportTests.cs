using System.Text.Json;
using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.Bench.Faults;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>The shape of the fault bench's Markdown, JSON and CSV reports.</summary>
public class FaultReportTests
{
    private static readonly FaultBenchOptions Options = new() { Matrix = [(FaultCatalogue.KillPrimary, FaultWorkload.Kvstore)], OutDirectory = "x", Seed = 40 };

    private static List<FaultRunResult> Results()
    {
        var pass = new FaultRunResult { Index = 0, Scenario = FaultCatalogue.KillPrimary, Workload = FaultWorkload.Kvstore, Seed = 40, FailoverMs = 12.5, LogMbit = 1.25, ThroughputRatio = 0.99, Requests = 10 };
        var fail = new FaultRunResult { Index = 1, Scenario = FaultCatalogue.Partition, Workload = FaultWorkload.Kvstore, Seed = 41, Violations = { "two live nodes: \"x\", y" } };
        foreach (var r in new[] { pass, fail }) r.Reproduce = FaultReport.ReproduceCommand(r, Options);
        return [pass, fail];
    }

    [Fact]
    public void JsonHasEveryRunWithVerdictFiguresAndCommand()
    {
        using var doc = JsonDocument.Parse(FaultReport.Json(Results(), Options));
        var runs = doc.RootElement.GetProperty("runs");
        Assert.Equal(2, runs.GetArrayLength());
        Assert.Equal(1, doc.RootElement.GetProperty("failed").GetInt32());
        Assert.Equal("PASS", runs[0].GetProperty("verdict").GetString());
        Assert.Equal(12.5, runs[0].GetProperty("failover_ms").GetDouble());
        Assert.Equal(JsonValueKind.Null, runs[1].GetProperty("failover_ms").ValueKind);
        Assert.Equal("FAIL", runs[1].GetProperty("verdict").GetString());
        Assert.Equal("two live nodes: \"x\", y", runs[1].GetProperty("violations")[0].GetString());
        Assert.Contains("--seed 41", runs[1].GetProperty("reproduce").GetString());
        Assert.Contains("--scenario partition", runs[1].GetProperty("reproduce").GetString());
    }

    [Fact]
    public void CsvHasAHeaderAndOneRowPerRunWithTheSameColumnCount()
    {
        var lines = FaultReport.Csv(Results()).TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("index,scenario,workload,seed,verdict,", lines[0]);
        int columns = Columns(lines[0]);
        Assert.All(lines, l => Assert.Equal(columns, Columns(l)));
        Assert.StartsWith("1,partition,kvstore,41,FAIL,", lines[2]);
        Assert.Contains("\"two live nodes: \"\"x\"\", y\"", lines[2]);
    }

    private static int Columns(string csvLine)
    {
        int n = 1;
        bool quoted = false;
        foreach (char c in csvLine)
        {
            if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted) n++;
        }
        return n;
    }

    [Fact]
    public void MarkdownHasTheSummaryTheRunsAndTheFailures()
    {
        string md = FaultReport.Markdown(Results(), Options, "Plots skipped: gnuplot is not installed.", []);
        Assert.Contains("| kill-primary | kvstore | - | 1 | 0 | 0 | 12.5 | 12.5 |", md);
        Assert.Contains("| partition | kvstore | - | 1 | 1 | 1 |", md);
        Assert.Contains("| 1 | partition/kvstore | 41 | FAIL |", md);
        Assert.Contains("## Failures", md);
        Assert.Contains("--runs 1 --seed 41", md);
        Assert.Contains("Plots skipped: gnuplot is not installed.", md);
        Assert.DoesNotContain("against a solo run", md); // no solo run to compare with
    }

    [Fact]
    public void Solo_and_baseline_runs_of_a_workload_are_compared_side_by_side()
    {
        FaultRunResult Run(FaultScenario s, FaultWorkload w, double? p50, double? p99, double? throughput, params string[] violations)
        {
            var r = new FaultRunResult { Scenario = s, Workload = w, LatencyP50Ms = p50, LatencyP99Ms = p99, ThroughputRatio = throughput };
            r.Violations.AddRange(violations);
            return r;
        }
        List<FaultRunResult> results =
        [
            Run(FaultCatalogue.Solo, FaultWorkload.Kvstore, 4, 10, 1.0),
            Run(FaultCatalogue.Solo, FaultWorkload.Kvstore, 6, 30, 1.0),
            Run(FaultCatalogue.Baseline, FaultWorkload.Kvstore, 10, 40, 1.0),
            Run(FaultCatalogue.Baseline, FaultWorkload.Kvstore, 900, 900, 0.1, "a failed run is no figure"),
            Run(FaultCatalogue.Solo, FaultWorkload.Cpubench, null, null, 1.0),
            Run(FaultCatalogue.Baseline, FaultWorkload.Cpubench, null, null, 0.8),
            Run(FaultCatalogue.KillPrimary, FaultWorkload.Idle, null, null, null),
        ];
        string table = FaultReport.SoloComparison(results);
        var rows = table.TrimEnd('\n').Split('\n');
        Assert.Equal(4, rows.Length); // header, rule, kvstore, cpubench: idle has no pair
        Assert.Equal("| kvstore | - | 4.00/10.00/- | 10.00/40.00/- | 2.50 | 4.00 | - | -/-/- | - | -/- | -/- | -/- | 1.00 |", rows[2]);
        Assert.Equal("| cpubench | - | -/-/- | -/-/- | - | - | - | -/-/- | - | -/- | -/- | -/- | 0.80 |", rows[3]);
        Assert.Contains("## Fault tolerance against a solo run", FaultReport.Markdown(results, Options, "", []));
    }

    [Fact]
    public void Each_rate_gets_its_own_line_of_solo_against_FT()
    {
        FaultRunResult Run(FaultScenario s, double rate, double p50, double? logBytes = null, double? cpu = null) => new()
        {
            Scenario = s, Workload = FaultWorkload.Kvstore, Rate = rate, LatencyP50Ms = p50, LatencyP99Ms = p50 * 2, LatencyP999Ms = p50 * 3,
            LogBytesPerRequest = logBytes, PrimaryCpuLoad = cpu, PrimaryCpuIdle = cpu / 10,
        };
        List<FaultRunResult> results =
        [
            Run(FaultCatalogue.Solo, 50, 1, cpu: 5), Run(FaultCatalogue.Baseline, 50, 3, 600, 20),
            Run(FaultCatalogue.Solo, 1000, 2, cpu: 10), Run(FaultCatalogue.Baseline, 1000, 8, 300, 40),
        ];
        var rows = FaultReport.SoloComparison(results).TrimEnd('\n').Split('\n');
        Assert.Equal(4, rows.Length);
        Assert.Equal("| kvstore | 50 | 1.00/2.00/3.00 | 3.00/6.00/9.00 | 3.00 | 3.00 | 3.00 | -/-/- | 600 | 5.0/0.5 | 20.0/2.0 | -/- | - |", rows[2]);
        Assert.StartsWith("| kvstore | 1000 | 2.00/4.00/6.00 | 8.00/16.00/24.00 | 4.00 |", rows[3]);
        Assert.Contains("| baseline | kvstore | 1000 | 1 |", FaultReport.SummaryTable(results));
    }

    [Fact]
    public void A_process_CPU_time_comes_from_proc()
    {
        if (!OperatingSystem.IsLinux()) return;
        double? before = ProcessCpu.Seconds(Environment.ProcessId);
        Assert.NotNull(before);
        long until = Environment.TickCount64 + 300;
        double spin = 0;
        while (Environment.TickCount64 < until) spin += Math.Sqrt(spin + 1);
        Assert.True(ProcessCpu.Seconds(Environment.ProcessId) > before, $"no CPU time counted ({spin})");
        Assert.Null(ProcessCpu.Seconds(int.MaxValue));
    }

    [Fact]
    public void Repair_runs_report_every_join_and_failover()
    {
        var r = new FaultRunResult { Index = 0, Scenario = FaultCatalogue.Repair, Workload = FaultWorkload.Kvstore, Seed = 40, FailoverMs = 30 };
        r.Failovers.Add(new FailoverSample("backup", 1, 30, 510, 20));
        r.Failovers.Add(new FailoverSample("backup-2", 2, null, 520, 25));
        r.Joins.Add(new JoinSample("backup", 1, 420.5, 15.25, 2100));
        r.Joins.Add(new JoinSample("backup-2", 2, 380, 20.5, 1900));
        r.Reproduce = FaultReport.ReproduceCommand(r, Options);
        List<FaultRunResult> results = [r, .. Results()];

        using var doc = JsonDocument.Parse(FaultReport.Json(results, Options));
        var run = doc.RootElement.GetProperty("runs")[0];
        Assert.Equal(2, run.GetProperty("joins").GetArrayLength());
        Assert.Equal(20.5, run.GetProperty("joins")[1].GetProperty("pause_ms").GetDouble());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("failovers")[1].GetProperty("failover_ms").ValueKind);
        Assert.Equal(420.5, run.GetProperty("join_ms_max").GetDouble());
        Assert.False(doc.RootElement.GetProperty("runs")[1].TryGetProperty("joins", out _)); // a kill-primary run has none

        string md = FaultReport.Markdown(results, Options, "", []);
        Assert.Contains("## Restoring redundancy", md);
        Assert.Contains("| 0 repair/kvstore | 40 | PASS | 2 | 380.0/420.5/420.5 | 15.25/20.50/20.50 | 1900.0/2100.0/2100.0 | 2 | 30.0/30.0/30.0 | 510.0/520.0/520.0 |", md);
        Assert.DoesNotContain("## Restoring redundancy", FaultReport.Markdown(Results(), Options, "", []));
    }
}
