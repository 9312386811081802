using System.Diagnostics;
using System.Text.RegularExpressions;
using VmFt.Guest.Images;
using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// Explores fault schedules: run i draws its faults, their steps and the channel latencies from
/// seed + i, runs the simulator on the bundled kvstore with a scripted client, and checks it. The
/// simulator checks the invariants as it goes (the output rule, one live node, every byte the
/// client got is what the serving node produced); this checks the end: the transcript is the
/// failure-free one, or a prefix of it when both nodes died.
/// </summary>
public static partial class ScheduleExplorer
{
    /// <summary>
    /// The client's script. STATS replies carry the guest's tick count and TSC, which depend on when
    /// input reached the guest: they are what makes output released too early visible to the client.
    /// </summary>
    public static readonly string[] Requests =
    [
        "c1 1 PUT alpha one", "c1 2 GET alpha", "c2 1 INCR n", "c3 1 STATS", "c2 2 INCR n", "c1 3 PUT beta two",
        "c2 3 GET n", "c3 2 STATS", "c1 4 DEL alpha", "c1 5 GET alpha", "c2 4 INCR n", "c3 3 STATS", "c1 6 GET beta",
    ];

    public static SimulationOptions Options(int seed, Random pick, bool breakOutputRule = false) => new()
    {
        Image = BundledImages.Get("kvstore"),
        ImageName = "kvstore",
        Seed = seed,
        ClientLines = Requests,
        ExpectedReplyLines = Requests.Length + 1, // the banner, then one reply per request
        MaxLinkDelay = 1 + pick.Next(6),
        MaxRelayDelay = 1 + pick.Next(4),
        BreakOutputRuleForTesting = breakOutputRule,
    };

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
        if (scenarios.Count > 1 && first.Scenario != FaultCatalogue.RelayReset && pick.Next(3) == 0)
            return new FaultPlan(first, Draw(FaultCatalogue.RelayReset));
        return new FaultPlan(first);
    }

    /// <summary>The transcript with the timing-dependent STATS fields blanked (they differ whenever input reaches the guest at another moment).</summary>
    public static string WithoutTiming(string transcript) => TimingFields().Replace(transcript, "uptime_ticks=* tsc=*");

    [GeneratedRegex(@"uptime_ticks=\d+ tsc=\d+")]
    private static partial Regex TimingFields();

    /// <summary>
    /// Runs <paramref name="count"/> schedules from <paramref name="firstSeed"/> on every core (each
    /// run depends only on its seed); one line per violation, in seed order, and a summary go to
    /// <paramref name="output"/>. Returns the number of runs with a violation.
    /// </summary>
    public static int Explore(int count, int firstSeed, IReadOnlyList<FaultScenario> scenarios, TextWriter output, bool breakOutputRule = false)
    {
        var clock = Stopwatch.StartNew();
        // Up to the timing fields, the failure-free transcript depends only on the script.
        var failureFree = new FtSimulation(Options(firstSeed, new Random(firstSeed))).Run(FaultPlan.None);
        string baseline = WithoutTiming(failureFree.Transcript);
        string scenario = scenarios.Count == 1 ? $" --scenario {scenarios[0].Name}" : "";
        int violations = 0, failovers = 0, completed = 0, struck = 0;
        const int Chunk = 100;
        var outcomes = new (bool Completed, bool FailedOver, bool Struck, string? Violation)[Chunk];
        for (int done = 0; done < count; done += Chunk)
        {
            int n = Math.Min(Chunk, count - done);
            Parallel.For(0, n, i =>
            {
                int seed = firstSeed + done + i;
                var pick = new Random(seed);
                var options = Options(seed, pick, breakOutputRule);
                var plan = Plan(pick, scenarios, options.FailureTimeout, failureFree.Steps);
                var r = new FtSimulation(options).Run(plan);
                var problems = new List<string>(r.Violations);
                string got = WithoutTiming(r.Transcript);
                if (plan.StopsTheService ? !baseline.StartsWith(got, StringComparison.Ordinal) : got != baseline)
                    problems.Add(r.Completed ? "transcript differs from the failure-free run" : "service did not complete: transcript is not the failure-free one");
                if (r.FailoverStep is not null && plan.Faults.All(f => f.Scenario.Takeover == Takeover.Nobody))
                    problems.Add($"a failover at step {r.FailoverStep} that no fault called for");
                string? violation = problems.Count == 0 ? null
                    : $"VIOLATION seed {seed} ({plan}): {string.Join("; ", problems)}  [repeat: vmft simulate --seed {seed} --runs 1{scenario}{(breakOutputRule ? " --break-output-rule" : "")}]";
                // A fault drawn for a step after the work was done never happened.
                bool allStruck = plan.Faults.All(f => f.AtStep <= r.Steps);
                outcomes[i] = (r.Completed, r.FailoverStep is not null, allStruck, violation);
            });
            foreach (var (runCompleted, failedOver, allStruck, violation) in outcomes.AsSpan(0, n))
            {
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
        output.WriteLine($"simulate: {count} runs in {seconds:F1} s ({count / seconds * 60:F0} schedules/min; faults at any of the failure-free run's {failureFree.Steps} steps), {struck} with every fault striking before the end, {completed} completed, {failovers} failovers, {violations} violations");
        return violations;
    }
}
