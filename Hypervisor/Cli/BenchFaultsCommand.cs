using System.CommandLine;
using System.Globalization;
using VmFt.Hypervisor.Bench.Faults;
using VmFt.Hypervisor.Faults;

using VmFt.Hypervisor.FaultTolerance.Arbitration;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft bench faults</c>: fault injection with real processes (kills, partition, channel delay,
/// throttle and pause, a slow backup) under kvstore, cpubench or an idle guest; a verdict and
/// figures per run, a Markdown/JSON/CSV report and plots. Exit 1 if any run failed, 2 for bad flags.
/// </summary>
public static class BenchFaultsCommand
{
    public static Command Create()
    {
        var runs = new Option<int>("--runs") { Description = "runs of each scenario/workload pair", DefaultValueFactory = _ => 1 };
        var scenario = new Option<string?>("--scenario") { Description = $"comma-separated scenarios, or all (default: all but {string.Join(", ", ProcessFaults.Injectors.Where(i => i.OutOfDefault).Select(i => i.Scenario.Name))}): {string.Join(", ", ProcessFaults.Scenarios.Select(s => s.Name))}" };
        var workload = new Option<string?>("--workload") { Description = "comma-separated workloads: kvstore, cpubench, idle, net (net: frames through a TAP in a namespace of each run's own, with solo, baseline and kill-primary; needs root) (default: kvstore for every scenario, plus kill-primary with cpubench and idle)" };
        var duration = new Option<double>("--duration") { Description = "seconds of client load (or idle time) per run", DefaultValueFactory = _ => 3 };
        var warmup = new Option<double>("--warmup") { Description = "seconds of kvstore load before the measured load, left out of the latency figures (0: none)", DefaultValueFactory = _ => 1 };
        var iterations = new Option<int>("--cpubench-iterations")
        {
            Description = "cpubench's length (about 44,500 instructions an iteration; 1, 10, 100, 1000 and 11000 have reference checksums); short runs measure start-up as much as FT",
            DefaultValueFactory = _ => 1000,
        };
        var seed = new Option<int?>("--seed") { Description = "seed of run 0 (run i uses seed + i; default: random)" };
        var output = new Option<string>("--out") { Description = "directory for report.md, runs.json, runs.csv and the plots", DefaultValueFactory = _ => "faults-report" };
        var rate = new Option<string>("--rate") { Description = "kvstore requests (net: frames) per second, open loop, over all clients; a comma list (50,200,1000) runs the whole matrix at each rate, side by side in the report", DefaultValueFactory = _ => "200" };
        var clients = new Option<int>("--clients") { Description = "logical kvstore clients (1-64)", DefaultValueFactory = _ => 32 };
        var verbose = new Option<bool>("--verbose") { Description = "show every line the processes print, with times" };
        var command = new Command("faults", "Fault injection with real processes: kill, partition, delay, throttle, pause, slow backup, relay reset; verdict and figures per run, a report with plots")
            { runs, scenario, workload, duration, warmup, iterations, seed, output, rate, clients, verbose };
        command.SetAction(parse => CliErrors.Guard("bench faults", () =>
        {
            int n = parse.GetValue(runs);
            if (n < 1) throw new UsageException($"--runs {n}: must be at least 1");
            double d = parse.GetValue(duration);
            if (!(d >= 0.5 && d <= 3600)) throw new UsageException($"--duration {d.ToString(CultureInfo.InvariantCulture)}: between 0.5 and 3600 seconds");
            double w = parse.GetValue(warmup);
            if (!(w >= 0 && w <= 600)) throw new UsageException($"--warmup {w.ToString(CultureInfo.InvariantCulture)}: between 0 and 600 seconds");
            int it = parse.GetValue(iterations);
            if (it is < 1 or > 1_000_000) throw new UsageException($"--cpubench-iterations {it}: between 1 and 1000000");
            var rates = new List<double>();
            foreach (var part in parse.GetValue(rate)!.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) || !(r > 0 && r <= 100_000))
                    throw new UsageException($"--rate {part}: between 0 (exclusive) and 100000 requests per second");
                if (!rates.Contains(r)) rates.Add(r);
            }
            int c = parse.GetValue(clients);
            if (c is < 1 or > 64) throw new UsageException($"--clients {c}: between 1 and 64 (kvstore remembers 64 clients)");
            var matrix = Matrix(parse.GetValue(scenario), parse.GetValue(workload));
            if (matrix.Any(m => m.Item2 == FaultWorkload.Net) && Network.NetworkNamespace.Unavailable is { } noNamespace)
            {
                Console.Out.WriteLine($"bench faults: workload net skipped: {noNamespace}");
                matrix.RemoveAll(m => m.Item2 == FaultWorkload.Net);
                if (matrix.Count == 0) return 0;
            }
            if (LocalEtcdCluster.Problem is { } noEtcd)
            {
                var asked = matrix.Where(m => m.Item1.NeedsEtcd).Select(m => m.Item1.Name).Distinct().ToList();
                if (asked.Count > 0) throw new UsageException($"--scenario {string.Join(',', asked)}: {noEtcd}");
                if (parse.GetValue(scenario) is null or "all")
                    Console.Out.WriteLine($"bench faults: {string.Join(", ", ProcessFaults.Scenarios.Where(x => x.NeedsEtcd).Select(x => x.Name))} left out: {noEtcd}");
            }
            string outDir = parse.GetValue(output)!;
            if (File.Exists(outDir)) throw new UsageException($"--out {outDir}: is a file, not a directory");
            var options = new FaultBenchOptions
            {
                Runs = n,
                Matrix = matrix,
                Duration = TimeSpan.FromSeconds(d),
                Warmup = TimeSpan.FromSeconds(w),
                CpubenchIterations = it,
                Seed = parse.GetValue(seed) ?? Random.Shared.Next(1, 1_000_000),
                OutDirectory = outDir,
                RequestRate = rates[0],
                Rates = rates,
                Clients = c,
                Verbose = parse.GetValue(verbose),
            };
            try
            {
                Directory.CreateDirectory(outDir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--out {outDir}: cannot create the directory: {e.Message}");
            }
            var results = FaultBenchmark.Run(options, Console.Out, !Console.IsOutputRedirected);
            return results.All(x => x.Passed) ? 0 : 1;
        }));
        return command;
    }

    private static List<(FaultScenario, FaultWorkload)> Matrix(string? scenarios, string? workloads)
    {
        if (scenarios is null && workloads is null) return [.. FaultBenchmark.DefaultMatrix()];
        var s = new List<FaultScenario>();
        // No --scenario: every one but the long ones; all: every one.
        if (scenarios is null || scenarios.Trim() == "all")
            s.AddRange(ProcessFaults.Scenarios.Where(x => (!x.NeedsEtcd || LocalEtcdCluster.Problem is null) && (scenarios is not null || !ProcessFaults.For(x).OutOfDefault)));
        else
        {
            foreach (var part in scenarios.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!FaultCatalogue.TryFind(part, ProcessFaults.Scenarios, out var x))
                    throw new UsageException($"--scenario {part}: unknown (known: {string.Join(", ", ProcessFaults.Scenarios.Select(s => s.Name))}, all)");
                s.Add(x);
            }
        }
        var w = new List<FaultWorkload>();
        foreach (var part in (workloads ?? "kvstore").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!FaultWorkloads.TryParse(part, out FaultWorkload x)) throw new UsageException($"--workload {part}: unknown (known: {string.Join(", ", FaultWorkloads.All.Select(FaultWorkloads.Name))})");
            w.Add(x);
        }
        if (w.Contains(FaultWorkload.Net) && scenarios is not null && scenarios.Trim() != "all" && s.FirstOrDefault(x => !ProcessFaults.Applies(x, FaultWorkload.Net)) is { } other)
            throw new UsageException($"--workload net: runs with {string.Join(", ", ProcessFaults.NetScenarios.Select(x => x.Name))} only, not {other.Name}");
        var matrix = s.SelectMany(sc => w.Where(wl => ProcessFaults.Applies(sc, wl)).Select(wl => (sc, wl))).ToList();
        if (matrix.Count == 0) throw new UsageException($"--scenario {scenarios} --workload {workloads}: no combination applies (kill-burst needs kvstore)");
        return matrix;
    }
}
