using System.CommandLine;
using System.Diagnostics;
using VmFt.Guest.Images;
using VmFt.Hypervisor.Simulation;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft simulate</c>: explores fault schedules in the deterministic simulator (primary, backup,
/// relay, arbiter and channel in one process) with the bundled kvstore and a scripted client, and
/// checks every run: the transcript equals the failure-free one (or, when both nodes die, is a
/// prefix of it), the client only ever got bytes the serving node produced, one live node.
/// </summary>
public static class SimulateCommand
{
    private static readonly string[] Requests =
    [
        "c1 1 PUT alpha one", "c1 2 GET alpha", "c2 1 INCR n", "c2 2 INCR n", "c1 3 PUT beta two",
        "c2 3 GET n", "c1 4 DEL alpha", "c1 5 GET alpha", "c2 4 INCR n", "c1 6 GET beta",
    ];

    public static Command Create()
    {
        var runs = new Option<int>("--runs") { Description = "fault schedules to explore", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "first seed; run i uses seed + i, so any run can be repeated alone with --runs 1", DefaultValueFactory = _ => 1 };
        var scenario = new Option<string>("--scenario") { Description = "crash-primary, crash-backup, partition, crash-both or all", DefaultValueFactory = _ => "all" };
        var command = new Command("simulate", "Explore fault schedules in the deterministic FT simulator and check every run") { runs, seed, scenario };
        command.SetAction(parse => CliErrors.Guard("simulate", () =>
        {
            int count = parse.GetValue(runs);
            if (count < 1) throw new UsageException("--runs: must be at least 1");
            FaultKind[] kinds = parse.GetValue(scenario) switch
            {
                "all" => [FaultKind.CrashPrimary, FaultKind.CrashBackup, FaultKind.Partition, FaultKind.CrashPrimaryThenNewPrimary],
                "crash-primary" => [FaultKind.CrashPrimary],
                "crash-backup" => [FaultKind.CrashBackup],
                "partition" => [FaultKind.Partition],
                "crash-both" => [FaultKind.CrashPrimaryThenNewPrimary],
                var s => throw new UsageException($"--scenario: '{s}' is not a scenario (crash-primary, crash-backup, partition, crash-both, all)"),
            };
            return Explore(count, parse.GetValue(seed), kinds, Console.Out);
        }));
        return command;
    }

    public static int Explore(int count, int firstSeed, FaultKind[] kinds, TextWriter output)
    {
        var baselines = new Dictionary<int, string>();
        int violations = 0, failovers = 0, completed = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            int seed = firstSeed + i;
            var pick = new Random(seed);
            var plan = new FaultPlan(kinds[pick.Next(kinds.Length)], 1 + pick.Next(60));
            var options = new SimulationOptions
            {
                Image = BundledImages.Get("kvstore"),
                ImageName = "kvstore",
                Seed = seed,
                ClientLines = Requests,
                ExpectedReplyLines = Requests.Length + 1,
                MaxLinkDelay = 1 + pick.Next(6),
                MaxRelayDelay = 1 + pick.Next(4),
            };
            // The failure-free transcript depends only on the workload, not on the seed.
            if (!baselines.TryGetValue(0, out var baseline))
                baselines[0] = baseline = new FtSimulation(options).Run(FaultPlan.None).Transcript;
            var r = new FtSimulation(options).Run(plan);
            var problems = new List<string>(r.Violations);
            if (plan.Kind == FaultKind.CrashPrimaryThenNewPrimary ? !baseline.StartsWith(r.Transcript, StringComparison.Ordinal) : r.Transcript != baseline)
                problems.Add(r.Completed ? "transcript differs from the failure-free run" : "service did not complete: transcript is not the failure-free one");
            if (r.Completed) completed++;
            if (r.FailoverStep is not null) failovers++;
            if (problems.Count > 0)
            {
                violations++;
                output.WriteLine($"VIOLATION seed {seed} ({plan.Kind} at step {plan.AtStep}): {string.Join("; ", problems)}  [repeat: vmft simulate --seed {seed} --runs 1]");
            }
            if ((i + 1) % 100 == 0) output.WriteLine($"  {i + 1}/{count} runs, {violations} violations");
        }
        double seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"simulate: {count} runs in {seconds:F1} s ({count / seconds * 60:F0} schedules/min), {completed} completed, {failovers} failovers, {violations} violations");
        return violations == 0 ? 0 : 1;
    }
}
