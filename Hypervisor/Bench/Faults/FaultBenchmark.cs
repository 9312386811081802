using VmFt.Guest.Images;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.Faults;

using VmFt.Hypervisor.FaultTolerance.Arbitration;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// <c>vmft bench faults</c>: every (scenario, workload) pair of the matrix, <see cref="FaultBenchOptions.Runs"/>
/// times, one after the other (each run owns the machine's cores), then the report files.
/// </summary>
public static class FaultBenchmark
{
    /// <summary>The default matrix: every scenario with kvstore (but the long kill-loop), and a primary kill with cpubench and with an idle guest.</summary>
    public static IReadOnlyList<(FaultScenario, FaultWorkload)> DefaultMatrix()
    {
        // The etcd scenarios need Debian's etcd; without it the default leaves them out (the command says so).
        var m = ProcessFaults.Scenarios.Where(s => (!s.NeedsEtcd || LocalEtcdCluster.Problem is null) && !ProcessFaults.For(s).OutOfDefault)
            .Select(s => (s, FaultWorkload.Kvstore)).ToList();
        m.Add((FaultCatalogue.KillPrimary, FaultWorkload.Cpubench));
        m.Add((FaultCatalogue.KillPrimary, FaultWorkload.Idle));
        return m;
    }

    /// <summary>Runs everything; returns the results (the report files are in <see cref="FaultBenchOptions.OutDirectory"/>).</summary>
    public static List<FaultRunResult> Run(FaultBenchOptions options, TextWriter output, bool interactive)
    {
        Directory.CreateDirectory(options.OutDirectory);
        double soloSeconds = 0;
        string cpuReference = "";
        if (options.Matrix.Any(m => m.Workload == FaultWorkload.Cpubench))
        {
            // cpubench alone, in-process and in virtual time: its run time is the throughput
            // reference, its output (TSC cycles masked) the failure-free transcript.
            var (outcome, _) = CpuBenchmark.RunCpubench(options.CpubenchIterations);
            soloSeconds = outcome.Elapsed.TotalSeconds;
            cpuReference = VerdictChecker.Normalize(SoloTranscript.Run(BundledImages.Get("cpubench"), "cpubench", 64 << 20, [], 3,
                maxSteps: 10_000_000, commandLine: $"iterations={options.CpubenchIterations}"));
        }
        // Every rate runs the whole matrix, one rate after the other, so solo and FT at one rate run side by side.
        IReadOnlyList<double> rates = options.Rates.Count > 0 ? options.Rates : [options.RequestRate];
        var plan = new List<(FaultScenario Scenario, FaultWorkload Workload, FaultBenchOptions Options)>();
        foreach (double rate in rates)
        {
            var at = options with { RequestRate = rate };
            for (int i = 0; i < options.Runs; i++) plan.AddRange(options.Matrix.Select(m => (m.Scenario, m.Workload, at)));
        }
        var results = new List<FaultRunResult>();
        // Verbose lines stream from other threads: a live display would tear them, so they get plain lines.
        RunProgress.Show(output, interactive && !options.Verbose, plan.Count, progress =>
        {
            for (int i = 0; i < plan.Count; i++)
            {
                var (scenario, workload, runOptions) = plan[i];
                int seed = unchecked(options.Seed + i);
                progress.Starting(i, $"{scenario.Name}/{FaultWorkloads.Name(workload)}{(rates.Count > 1 && workload == FaultWorkload.Kvstore ? $" at {runOptions.RequestRate:0.###}/s" : "")}");
                var result = new FaultRun(runOptions, scenario, workload, seed, i) { Verbose = options.Verbose ? output : null }.ExecuteAsync(soloSeconds, cpuReference).GetAwaiter().GetResult();
                results.Add(result);
                progress.Finished(i + 1, result);
            }
        });
        var (plots, note) = FaultPlots.Draw(results, options.OutDirectory);
        File.WriteAllText(Path.Combine(options.OutDirectory, "report.md"), FaultReport.Markdown(results, options, note, plots));
        File.WriteAllText(Path.Combine(options.OutDirectory, "runs.json"), FaultReport.Json(results, options));
        File.WriteAllText(Path.Combine(options.OutDirectory, "runs.csv"), FaultReport.Csv(results));
        output.WriteLine();
        output.Write(FaultReport.SummaryTable(results));
        output.WriteLine();
        string versus = FaultReport.SoloComparison(results);
        if (versus.Length > 0)
        {
            output.Write(versus);
            output.WriteLine();
        }
        if (plots.Count == 0) output.WriteLine(note);
        int notStarted = results.Count(r => r.StartupFailure is not null);
        output.WriteLine($"bench faults: {results.Count} runs, {results.Count(r => r.Verdict == "FAIL")} failed{(notStarted > 0 ? $", {notStarted} not started" : "")}; report in {Path.Combine(options.OutDirectory, "report.md")} (runs.json, runs.csv{(plots.Count > 0 ? ", plots" : "")})");
        return results;
    }
}
