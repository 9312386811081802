using System.Diagnostics;
using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// Explores fault schedules: run i draws its faults, their steps and the channel latencies from
/// seed + i, runs the simulator on a workload (<see cref="SimulatedWorkload"/>: kvstore, or the journal on a shared
/// disk) with its scripted client, and checks it. The
/// simulator checks the invariants as it goes (the output rule, one live node, every byte the
/// client got is what the serving node produced); this checks the end: the transcript is the
/// failure-free one, or a prefix of it when both nodes died.
/// </summary>
public static class ScheduleExplorer
{
    /// <summary>The kvstore client's script (<see cref="SimulatedWorkload.Kvstore"/>).</summary>
    public static string[] Requests => SimulatedWorkload.Kvstore.Requests;

    public static SimulationOptions Options(int seed, Random pick, bool breakOutputRule = false, SimulatedWorkload? workload = null, bool breakDiskRule = false)
    {
        workload ??= SimulatedWorkload.Kvstore;
        return new()
        {
            Image = workload.Image,
            ImageName = workload.ImageName,
            CommandLine = workload.CommandLine,
            Disk = workload.DiskSectors > 0 ? new byte[workload.DiskSectors * Guest.Machine.DiskConfiguration.SectorSize] : null,
            DiskCheck = workload.CheckDisk,
            DiskShared = workload.DiskShared,
            Seed = seed,
            ClientLines = workload.Requests,
            BannerLines = workload.BannerLines,
            ExpectedReplyLines = workload.ExpectedReplyLines,
            MaxLinkDelay = 1 + pick.Next(6),
            MaxRelayDelay = 1 + pick.Next(4),
            BreakOutputRuleForTesting = breakOutputRule,
            BreakDiskRuleForTesting = breakDiskRule,
        };
    }

    /// <summary>
    /// The faults of run <paramref name="pick"/>: one of <paramref name="scenarios"/> (the
    /// simulator's, <see cref="SimulatedFaults"/>), and with several, a third of the time a relay
    /// reset as well, each at any step of a failure-free run of <paramref name="runSteps"/> steps.
    /// </summary>
    public static FaultPlan Plan(Random pick, IReadOnlyList<FaultScenario> scenarios, int failureTimeout, int runSteps)
    {
        Fault Draw(FaultScenario scenario)
        {
            int at = 1 + pick.Next(runSteps);
            string node = pick.Next(2) == 0 ? "A" : "B";
            return SimulatedFaults.For(scenario).DrawFault(at, node, pick, failureTimeout);
        }
        var first = Draw(scenarios[pick.Next(scenarios.Count)]);
        Fault[] faults = scenarios.Count > 1 && first.Scenario != FaultCatalogue.RelayReset && pick.Next(3) == 0
            ? [first, Draw(FaultCatalogue.RelayReset)]
            : [first];
        if (first.Scenario.RepairCycles == 0) return new FaultPlan(faults);
        // A repair plan: after the first repair the primary is killed again (kill-loop: after every
        // repair, for its cycles), then, for repair, up to two faults of any kind that may strike a
        // whole pair, each some steps after the pair is whole again.
        bool loop = first.Scenario == FaultCatalogue.KillLoop;
        int count = first.Scenario.RepairCycles - 1 + (loop ? 0 : pick.Next(3));
        var after = new Fault[count];
        for (int i = 0; i < count; i++)
        {
            var kind = loop || i == 0 ? FaultCatalogue.KillPrimary : SimulatedFaults.AfterRepair[pick.Next(SimulatedFaults.AfterRepair.Count)];
            string node = pick.Next(2) == 0 ? "A" : "B";
            after[i] = SimulatedFaults.For(kind).DrawFault(pick.Next(30), node, pick, failureTimeout);
        }
        return new FaultPlan(faults) { AfterRepair = after };
    }

    /// <summary>Why the simulator cannot repair with <paramref name="workload"/>, or null: a joining backup is copied RAM, CPU and devices, no disk.</summary>
    public static string? RepairProblem(SimulatedWorkload workload) =>
        workload.DiskSectors > 0 ? $"the simulator's repair copies no disk, so it runs kvstore only (not {workload.Name})" : null;

    /// <summary>A kvstore transcript with the timing-dependent STATS fields blanked (they differ whenever input reaches the guest at another moment).</summary>
    public static string WithoutTiming(string transcript) => SimulatedWorkload.Kvstore.WithoutTiming(transcript);

    /// <summary>The seed of the failure-free run whose length bounds every run's fault steps.</summary>
    public const int ReferenceSeed = 1;

    /// <summary>
    /// Runs <paramref name="count"/> schedules from <paramref name="firstSeed"/> on every core (each
    /// run depends only on its seed); one line per violation, in seed order, and a summary go to
    /// <paramref name="output"/>. Returns the number of runs with a violation.
    /// </summary>
    public static int Explore(int count, int firstSeed, IReadOnlyList<FaultScenario> scenarios, TextWriter output, bool breakOutputRule = false,
        SimulatedWorkload? workload = null, bool breakDiskRule = false)
    {
        workload ??= SimulatedWorkload.Kvstore;
        if (RepairProblem(workload) is not null) scenarios = [.. scenarios.Where(x => x.RepairCycles == 0)];
        var clock = Stopwatch.StartNew();
        // Up to the timing fields, the failure-free transcript depends only on the script.
        // The failure-free run that sets where faults may strike comes from one fixed seed, not the
        // first one explored: a run's schedule must depend on its own seed alone, or the repeat
        // command printed with a violation (--seed N --runs 1) would draw another schedule.
        var failureFree = new FtSimulation(Options(ReferenceSeed, new Random(ReferenceSeed), workload: workload)).Run(FaultPlan.None);
        string baseline = workload.WithoutTiming(failureFree.Transcript);
        if (failureFree.Violations.Count > 0 || !failureFree.Completed)
            throw new InvalidOperationException($"the failure-free {workload.Name} run did not complete cleanly: {string.Join("; ", failureFree.Violations)}");
        string scenario = (scenarios.Count == 1 ? $" --scenario {scenarios[0].Name}" : "") + (workload == SimulatedWorkload.Kvstore ? "" : $" --workload {workload.Name}");
        int violations = 0, failovers = 0, completed = 0, struck = 0, rejoins = 0, several = 0;
        ulong newest = 0;
        const int Chunk = 100;
        var outcomes = new (bool Completed, bool FailedOver, bool Struck, string? Violation, SimulationResult Result)[Chunk];
        for (int done = 0; done < count; done += Chunk)
        {
            int n = Math.Min(Chunk, count - done);
            Parallel.For(0, n, i =>
            {
                int seed = firstSeed + done + i;
                var pick = new Random(seed);
                var options = Options(seed, pick, breakOutputRule, workload, breakDiskRule);
                var plan = Plan(pick, scenarios, options.FailureTimeout, failureFree.Steps);
                var r = new FtSimulation(options).Run(plan);
                var problems = new List<string>(r.Violations);
                string got = workload.WithoutTiming(r.Transcript);
                if (plan.StopsTheService ? !baseline.StartsWith(got, StringComparison.Ordinal) : got != baseline)
                    problems.Add(r.Completed ? "transcript differs from the failure-free run" : "service did not complete: transcript is not the failure-free one");
                if (r.FailoverStep is not null && plan.Faults.All(f => f.Scenario.Takeover == Takeover.Nobody))
                    problems.Add($"a failover at step {r.FailoverStep} that no fault called for");
                string? violation = problems.Count == 0 ? null
                    : $"VIOLATION seed {seed} ({plan}): {string.Join("; ", problems)}  [repeat: vmft simulate --seed {seed} --runs 1{scenario}{(breakOutputRule ? " --break-output-rule" : "")}{(breakDiskRule ? " --break-disk-rule" : "")}]";
                // A fault drawn for a step after the work was done never happened.
                bool allStruck = plan.Faults.All(f => f.AtStep <= r.Steps);
                outcomes[i] = (r.Completed, r.FailoverStep is not null, allStruck, violation, r);
            });
            foreach (var (runCompleted, failedOver, allStruck, violation, r) in outcomes.AsSpan(0, n))
            {
                rejoins += r.Rejoins;
                if (r.Failovers > 1) several++;
                newest = Math.Max(newest, r.Generation);
                if (runCompleted) completed++;
                if (failedOver) failovers++;
                if (allStruck) struck++;
                if (violation is null) continue;
                violations++;
                output.WriteLine(violation);
            }
            output.WriteLine($"  {done + n}/{count} runs, {violations} violations");
        }
        double seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"simulate: {count} runs of {workload.Name} in {seconds:F1} s ({count / seconds * 60:F0} schedules/min; faults at any of the failure-free run's {failureFree.Steps} steps), {struck} with every fault striking before the end, {completed} completed, {failovers} failovers, " +
            (scenarios.Any(x => x.RepairCycles > 0) ? $"{rejoins} rejoins ({several} runs with two or more failovers, up to generation {newest}), " : "") +
            $"{violations} violations");
        return violations;
    }
}
