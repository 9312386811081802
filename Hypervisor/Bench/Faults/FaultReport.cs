using System.Globalization;
using System.Text;
using System.Text.Json;
using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>The session's report: Markdown for people, JSON and CSV with every run for tools.</summary>
public static class FaultReport
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    private static string F(double? v, string format = "F1") => v is { } x ? x.ToString(format, C) : "-";

    /// <summary>The command that repeats run <paramref name="r"/> on its own.</summary>
    public static string ReproduceCommand(FaultRunResult r, FaultBenchOptions o) =>
        $"vmft bench faults --scenario {r.Scenario.Name} --workload {FaultWorkloads.Name(r.Workload)} --runs 1 --seed {r.Seed}" +
        $" --duration {o.Duration.TotalSeconds.ToString("0.###", C)} --warmup {o.Warmup.TotalSeconds.ToString("0.###", C)} --cpubench-iterations {o.CpubenchIterations} --rate {o.RequestRate.ToString("0.###", C)} --clients {o.Clients}";

    /// <summary>One line per (scenario, workload): the figures over its runs.</summary>
    public static string SummaryTable(IReadOnlyList<FaultRunResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| scenario | workload | rate/s | runs | failed | violations | failover ms p50 | failover ms p99 | detection ms p50 | throughput ratio | logging Mbit/s | hold ms p99 | latency ms p99 | max lag ms |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var g in results.GroupBy(r => (r.Scenario, r.Workload, r.Rate)))
        {
            var runs = g.ToList();
            double? Mean(Func<FaultRunResult, double?> f)
            {
                var v = runs.Select(f).Where(x => x is not null).Select(x => x!.Value).ToList();
                return v.Count == 0 ? null : v.Average();
            }
            double? Q(Func<FaultRunResult, double?> f, double q) => Percentiles.Of(runs.Select(f).Where(x => x is not null).Select(x => x!.Value), q);
            sb.AppendLine($"| {g.Key.Scenario.Name} | {FaultWorkloads.Name(g.Key.Workload)} | {(g.Key.Rate > 0 ? g.Key.Rate.ToString("0.###", C) : "-")} | {runs.Count} | {runs.Count(r => !r.Passed)} | {runs.Sum(r => r.Violations.Count)} | " +
                $"{F(Percentiles.Of(runs.SelectMany(r => r.FailoverTimes), 0.5))} | {F(Percentiles.Of(runs.SelectMany(r => r.FailoverTimes), 0.99))} | {F(Q(r => r.DetectionMs, 0.5))} | {F(Mean(r => r.ThroughputRatio), "F3")} | " +
                $"{F(Mean(r => r.LogMbit), "F3")} | {F(Q(r => r.HoldP99Ms, 0.99), "F2")} | {F(Q(r => r.LatencyP99Ms, 0.99))} | {F(Q(r => r.MaxLagMs, 1))} |");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Fault tolerance against no fault tolerance, for every (workload, rate) that ran both the solo
    /// and the baseline scenario in this session (side by side, on the same machine): client latency
    /// p50/p99/p99.9 of each and their FT/solo ratios, the output hold, log bytes per request and CPU
    /// per node under the load and idle (medians over runs). Empty when there is no such pair.
    /// </summary>
    public static string SoloComparison(IReadOnlyList<FaultRunResult> results)
    {
        var sb = new StringBuilder();
        foreach (var (workload, rate) in results.Select(r => (r.Workload, r.Rate)).Distinct())
        {
            var solo = results.Where(r => r.Workload == workload && r.Rate == rate && r.Scenario == FaultCatalogue.Solo && r.Passed).ToList();
            var ft = results.Where(r => r.Workload == workload && r.Rate == rate && r.Scenario == FaultCatalogue.Baseline && r.Passed).ToList();
            if (solo.Count == 0 || ft.Count == 0) continue;
            static double? Median(List<FaultRunResult> runs, Func<FaultRunResult, double?> f) =>
                Percentiles.Of(runs.Select(f).Where(x => x is not null).Select(x => x!.Value), 0.5);
            static string Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 ? (x / y).ToString("F2", C) : "-";
            double? s50 = Median(solo, r => r.LatencyP50Ms), s99 = Median(solo, r => r.LatencyP99Ms), s999 = Median(solo, r => r.LatencyP999Ms);
            double? f50 = Median(ft, r => r.LatencyP50Ms), f99 = Median(ft, r => r.LatencyP99Ms), f999 = Median(ft, r => r.LatencyP999Ms);
            // Both throughput ratios are against the same reference, so their quotient is FT over solo.
            double? st = Median(solo, r => r.ThroughputRatio), fth = Median(ft, r => r.ThroughputRatio);
            if (sb.Length == 0)
            {
                sb.AppendLine("| workload | rate/s | solo latency ms p50/p99/p99.9 | FT latency ms p50/p99/p99.9 | FT/solo p50 | p99 | p99.9 | hold ms p50/p99/p99.9 | log bytes/request | CPU % solo load/idle | CPU % primary load/idle | CPU % backup load/idle | throughput FT/solo |");
                sb.AppendLine("|---|---:|---|---|---:|---:|---:|---|---:|---|---|---|---:|");
            }
            sb.AppendLine($"| {FaultWorkloads.Name(workload)} | {(rate > 0 ? rate.ToString("0.###", C) : "-")} | {F(s50, "F2")}/{F(s99, "F2")}/{F(s999, "F2")} | {F(f50, "F2")}/{F(f99, "F2")}/{F(f999, "F2")} | " +
                $"{Ratio(f50, s50)} | {Ratio(f99, s99)} | {Ratio(f999, s999)} | {F(Median(ft, r => r.HoldP50Ms), "F2")}/{F(Median(ft, r => r.HoldP99Ms), "F2")}/{F(Median(ft, r => r.HoldP999Ms), "F2")} | " +
                $"{F(Median(ft, r => r.LogBytesPerRequest), "F0")} | {F(Median(solo, r => r.PrimaryCpuLoad))}/{F(Median(solo, r => r.PrimaryCpuIdle))} | " +
                $"{F(Median(ft, r => r.PrimaryCpuLoad))}/{F(Median(ft, r => r.PrimaryCpuIdle))} | {F(Median(ft, r => r.BackupCpuLoad))}/{F(Median(ft, r => r.BackupCpuIdle))} | {Ratio(fth, st)} |");
        }
        return sb.ToString();
    }

    /// <summary>
    /// The repair runs' joins and failovers: one line per (scenario, workload) over all its runs, then
    /// one per run. Empty when no run had a join or a failover of its own.
    /// </summary>
    public static string RepairTable(IReadOnlyList<FaultRunResult> results)
    {
        var repair = results.Where(r => r.Scenario.RepairCycles > 0).ToList();
        if (repair.Count == 0) return "";
        static string Range(IEnumerable<double> values, string format = "F1")
        {
            var v = values.ToList();
            return v.Count == 0 ? "-" : $"{F(Percentiles.Of(v, 0.5), format)}/{F(Percentiles.Of(v, 0.99), format)}/{F(v.Max(), format)}";
        }
        static IEnumerable<double> Values(IEnumerable<FailoverSample> f, Func<FailoverSample, double?> pick) => f.Select(pick).Where(x => x is not null).Select(x => x!.Value);
        var sb = new StringBuilder();
        sb.AppendLine("| run | seed | verdict | joins | join ms p50/p99/max | pause ms p50/p99/max | restored ms p50/p99/max | failovers | failover ms p50/p99/max | detection ms p50/p99/max |");
        sb.AppendLine("|---|---:|---|---:|---|---|---|---:|---|---|");
        void Line(string name, string seed, string verdict, IReadOnlyList<FaultRunResult> runs)
        {
            var joins = runs.SelectMany(r => r.Joins).ToList();
            var failovers = runs.SelectMany(r => r.Failovers).ToList();
            sb.AppendLine($"| {name} | {seed} | {verdict} | {joins.Count} | {Range(joins.Select(j => j.JoinMs))} | {Range(joins.Select(j => j.PauseMs), "F2")} | " +
                $"{Range(joins.Where(j => j.RestoredMs is not null).Select(j => j.RestoredMs!.Value))} | {failovers.Count} | {Range(Values(failovers, f => f.FailoverMs))} | {Range(Values(failovers, f => f.DetectionMs))} |");
        }
        foreach (var g in repair.GroupBy(r => r.Name))
        {
            var runs = g.ToList();
            Line($"**{g.Key}** ({runs.Count} runs)", "", $"{runs.Count(r => r.Passed)} PASS", runs);
        }
        foreach (var r in repair) Line($"{r.Index} {r.Name}", r.Seed.ToString(C), r.Verdict, [r]);
        return sb.ToString();
    }

    public static string Markdown(IReadOnlyList<FaultRunResult> results, FaultBenchOptions o, string plotsNote, IReadOnlyList<string> plots)
    {
        var sb = new StringBuilder();
        int failed = results.Count(r => r.Verdict == "FAIL"), notStarted = results.Count(r => r.StartupFailure is not null);
        sb.AppendLine("# vmft bench faults");
        sb.AppendLine();
        sb.AppendLine($"{results.Count} runs, {failed} failed{(notStarted > 0 ? $", {notStarted} not started (start-up failed {FaultRun.StartAttempts} times: not a verdict on fault tolerance)" : "")}. Seed {o.Seed} (run i uses seed {o.Seed} + i); load {o.Duration.TotalSeconds.ToString("0.###", C)} s per kvstore/idle run " +
            $"(kvstore after a {o.Warmup.TotalSeconds.ToString("0.###", C)} s warm-up whose replies are checked but whose latencies are not figures) " +
            $"at {(o.Rates.Count > 1 ? string.Join(", ", o.Rates.Select(x => x.ToString("0.###", C))) + " (each rate a pass of its own)" : o.RequestRate.ToString("0.###", C))} requests/s over {o.Clients} clients, retry after {o.RetryTimeout.TotalMilliseconds:F0} ms; heartbeat {o.HeartbeatMs} ms, failure timeout {o.TimeoutMs} ms; " +
            $"cpubench {o.CpubenchIterations} iterations.");
        sb.AppendLine();
        sb.AppendLine("Each run starts `vmft backup`, `vmft primary` and `vmft relay` as processes on loopback, the logging channel through a fault-injecting proxy (the solo scenario: the guest alone). " +
            "A run passes when the client's transcript is byte-identical to a failure-free run of the same input (a prefix of it for kill-new-primary, where the service must stop), " +
            "every request got one reply per send in order with per-client INCR counters going 1, 2, 3... (nothing executed twice), and no two nodes could release output at the same moment.");
        sb.AppendLine();
        sb.AppendLine("Figures: failover = the client's last byte from the old primary to its first byte from the new one; detection = fault to the survivor declaring its peer dead; " +
            "drain = that to the first output after it; logging rate, backup lag and output hold over the measured load, from the primary's periodic `ft stats` lines; latency from each request's open-loop arrival (the generator's millisecond tick that released it) to its first reply. " +
            "Throughput ratio: kvstore, requests answered within the load window over those offered (a solo kvstore keeps up with the offered rate); cpubench, the solo run time (in-process) over the time under FT (short cpubench runs mostly measure freshly started processes; `--cpubench-iterations 11000` measures FT).");
        sb.AppendLine();
        sb.AppendLine("## Summary");
        sb.AppendLine();
        sb.Append(SummaryTable(results));
        sb.AppendLine();
        string versus = SoloComparison(results);
        if (versus.Length > 0)
        {
            sb.AppendLine("## Fault tolerance against a solo run");
            sb.AppendLine();
            sb.AppendLine("The baseline (FT, no fault) beside the solo scenario (the guest alone, `vmft run`, its serial console on TCP, under the same load), both from this session, one line per rate. " +
                "Log bytes per request: what the primary shipped over the measured load over the requests that arrived in it. CPU: percent of one CPU per node from /proc/PID/stat (utime + stime), over the measured load and over the idle second after it.");
            sb.AppendLine();
            sb.Append(versus);
            sb.AppendLine();
        }
        string repairs = RepairTable(results);
        if (repairs.Length > 0)
        {
            sb.AppendLine("## Restoring redundancy");
            sb.AppendLine();
            sb.AppendLine("The repair scenarios kill the node serving again and again: after each kill its backup goes live and a new backup (what `vmft ft --respawn` starts) joins it under the load, " +
                "and the next kill comes once the live node says the backup joined. Join = the live node's `join_ms` (the joiner's arrival to a complete replica), pause = its `pause_ms` (the guest stood still for the stop-and-copy), " +
                "restored = the kill before it to the join (detection, go-live, a fresh process and the copy: the time without redundancy); failover, detection and drain as above, for every kill.");
            sb.AppendLine();
            sb.Append(repairs);
            sb.AppendLine();
        }
        sb.AppendLine("## Runs");
        sb.AppendLine();
        sb.AppendLine("| # | run | seed | verdict | failover ms | detection ms | drain ms | max lag ms | log Mbit/s | hold ms p50/p99/p99.9 | latency ms p50/p99/p99.9 | throughput | requests | retries | notes |");
        sb.AppendLine("|---:|---|---:|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|");
        foreach (var r in results)
        {
            sb.AppendLine($"| {r.Index} | {r.Name} | {r.Seed} | {r.Verdict} | {F(r.FailoverMs)} | {F(r.DetectionMs)} | {F(r.DrainMs)} | {F(r.MaxLagMs)} | {F(r.LogMbit, "F3")} | " +
                $"{F(r.HoldP50Ms, "F2")}/{F(r.HoldP99Ms, "F2")}/{F(r.HoldP999Ms, "F2")} | {F(r.LatencyP50Ms)}/{F(r.LatencyP99Ms)}/{F(r.LatencyP999Ms)} | {F(r.ThroughputRatio, "F3")} | {r.Requests} | {r.Retries} | {string.Join("; ", r.Notes).Replace("|", "/")} |");
        }
        sb.AppendLine();
        if (failed > 0)
        {
            sb.AppendLine("## Failures");
            sb.AppendLine();
            foreach (var r in results.Where(r => !r.Passed))
            {
                sb.AppendLine($"- run {r.Index} {r.Name} (seed {r.Seed}): `{r.Reproduce}`");
                if (r.StartupFailure is { } s) sb.AppendLine($"  - not started ({FaultRun.StartAttempts} attempts): {s.Replace("|", "/")}");
                foreach (var v in r.Violations) sb.AppendLine($"  - {v.Replace("|", "/")}");
                foreach (var e in r.EvidencePaths) sb.AppendLine($"  - evidence: [{e}]({e.Replace('\\', '/')}/summary.txt)");
            }
            sb.AppendLine();
        }
        sb.AppendLine("## Reproducing a run");
        sb.AppendLine();
        sb.AppendLine("Every run is repeated on its own with its seed (the seed fixes the fault moment, the arrival schedule and the request mix; the machine's timing does the rest), for example:");
        sb.AppendLine();
        if (results.Count > 0) sb.AppendLine($"    {results[0].Reproduce}");
        sb.AppendLine();
        sb.AppendLine("`runs.json` and `runs.csv` give every run's command (`reproduce`).");
        sb.AppendLine();
        sb.AppendLine("## Plots");
        sb.AppendLine();
        if (plots.Count == 0) sb.AppendLine(plotsNote);
        foreach (var p in plots) sb.AppendLine($"![{Path.GetFileNameWithoutExtension(p)}]({Path.GetFileName(p)})");
        return sb.ToString();
    }

    public static string Json(IReadOnlyList<FaultRunResult> results, FaultBenchOptions o)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("seed", o.Seed);
            w.WriteNumber("duration_s", o.Duration.TotalSeconds);
            w.WriteNumber("warmup_s", o.Warmup.TotalSeconds);
            w.WriteNumber("cpubench_iterations", o.CpubenchIterations);
            w.WriteNumber("request_rate", o.RequestRate);
            w.WriteStartArray("rates");
            foreach (double x in o.Rates.Count > 0 ? o.Rates : [o.RequestRate]) w.WriteNumberValue(x);
            w.WriteEndArray();
            w.WriteNumber("clients", o.Clients);
            w.WriteNumber("failed", results.Count(r => r.Verdict == "FAIL"));
            w.WriteNumber("not_started", results.Count(r => r.StartupFailure is not null));
            w.WriteStartArray("runs");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteNumber("index", r.Index);
                w.WriteString("scenario", r.Scenario.Name);
                w.WriteString("workload", FaultWorkloads.Name(r.Workload));
                w.WriteNumber("seed", r.Seed);
                w.WriteString("verdict", r.Verdict);
                if (r.StartupFailure is { } startup) w.WriteString("startup_failure", startup);
                w.WriteStartArray("violations");
                foreach (var v in r.Violations) w.WriteStringValue(v);
                w.WriteEndArray();
                w.WriteStartArray("evidence");
                foreach (var e in r.EvidencePaths) w.WriteStringValue(e);
                w.WriteEndArray();
                w.WriteStartArray("notes");
                foreach (var v in r.Notes) w.WriteStringValue(v);
                w.WriteEndArray();
                if (r.Scenario.RepairCycles > 0)
                {
                    w.WriteStartArray("failovers");
                    foreach (var f in r.Failovers)
                    {
                        w.WriteStartObject();
                        w.WriteString("node", f.Node);
                        w.WriteNumber("generation", f.Generation);
                        Number(w, "failover_ms", f.FailoverMs);
                        Number(w, "detection_ms", f.DetectionMs);
                        Number(w, "drain_ms", f.DrainMs);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteStartArray("joins");
                    foreach (var j in r.Joins)
                    {
                        w.WriteStartObject();
                        w.WriteString("into", j.Node);
                        w.WriteNumber("generation", j.Generation);
                        Number(w, "join_ms", j.JoinMs);
                        Number(w, "pause_ms", j.PauseMs);
                        Number(w, "restored_ms", j.RestoredMs);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                foreach (var (name, value) in Figures(r))
                {
                    if (value is { } x) w.WriteNumber(name, Math.Round(x, 4));
                    else w.WriteNull(name);
                }
                w.WriteString("reproduce", r.Reproduce);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static string Csv(IReadOnlyList<FaultRunResult> results)
    {
        var sb = new StringBuilder();
        var names = Figures(new FaultRunResult()).Select(f => f.Name);
        sb.AppendLine("index,scenario,workload,seed,verdict," + string.Join(',', names) + ",violations,reproduce");
        foreach (var r in results)
        {
            sb.Append(C, $"{r.Index},{r.Scenario.Name},{FaultWorkloads.Name(r.Workload)},{r.Seed},{r.Verdict},");
            sb.Append(string.Join(',', Figures(r).Select(f => f.Value is { } x ? x.ToString("0.####", C) : "")));
            sb.Append(',').Append(Quote(string.Join("; ", r.Violations))).Append(',').AppendLine(Quote(r.Reproduce));
        }
        return sb.ToString();
    }

    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } x) w.WriteNumber(name, Math.Round(x, 4));
        else w.WriteNull(name);
    }

    private static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";

    private static IEnumerable<(string Name, double? Value)> Figures(FaultRunResult r) =>
    [
        ("wall_s", r.WallSeconds), ("failover_ms", r.FailoverMs), ("detection_ms", r.DetectionMs), ("drain_ms", r.DrainMs),
        ("max_lag_ms", r.MaxLagMs), ("log_mbit_s", r.LogMbit), ("hold_p50_ms", r.HoldP50Ms), ("hold_p99_ms", r.HoldP99Ms), ("hold_p999_ms", r.HoldP999Ms),
        ("latency_p50_ms", r.LatencyP50Ms), ("latency_p99_ms", r.LatencyP99Ms), ("latency_p999_ms", r.LatencyP999Ms), ("throughput_ratio", r.ThroughputRatio),
        ("rate", r.Rate), ("log_bytes_per_request", r.LogBytesPerRequest),
        ("primary_cpu_load_pct", r.PrimaryCpuLoad), ("primary_cpu_idle_pct", r.PrimaryCpuIdle), ("backup_cpu_load_pct", r.BackupCpuLoad), ("backup_cpu_idle_pct", r.BackupCpuIdle),
        ("requests", r.Requests), ("retries", r.Retries), ("sent_lines", r.SentLines), ("output_bytes", r.OutputBytes),
        ("failover_count", r.Failovers.Count), ("join_count", r.Joins.Count),
        ("join_ms_p50", Percentiles.Of(r.Joins.Select(j => j.JoinMs), 0.5)), ("join_ms_max", r.Joins.Count > 0 ? (double?)r.Joins.Max(j => j.JoinMs) : null),
        ("pause_ms_p50", Percentiles.Of(r.Joins.Select(j => j.PauseMs), 0.5)), ("pause_ms_max", r.Joins.Count > 0 ? (double?)r.Joins.Max(j => j.PauseMs) : null),
    ];
}
