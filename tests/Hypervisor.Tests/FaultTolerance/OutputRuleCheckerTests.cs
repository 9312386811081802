using VmFt.Guest.Images;
using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.Simulation;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// With a workload whose replies depend on timing (STATS reports uptime ticks and the TSC), the
/// checker compares what the client got with what the serving node produced. The real output rule
/// passes every schedule; a primary that releases output before the backup acknowledges is caught.
/// </summary>
public class OutputRuleCheckerTests
{
    private static readonly string[] Requests =
    [
        "c1 1 PUT a 1", "c1 2 STATS", "c2 1 INCR a", "c1 3 STATS", "c2 2 GET a", "c1 4 STATS", "c2 3 STATS", "c1 5 STATS",
    ];

    private static SimulationOptions Options(int seed, bool broken) => new()
    {
        Image = BundledImages.Get("kvstore"),
        ImageName = "kvstore",
        Seed = seed,
        ClientLines = Requests,
        ExpectedReplyLines = Requests.Length + 1,
        ClientInterval = 2,
        // A slow logging channel and a fast client network: output that leaves early has time to
        // reach the client before the log reaches the backup.
        MaxLinkDelay = 6,
        MaxRelayDelay = 1,
        BreakOutputRuleForTesting = broken,
    };

    private static IEnumerable<(int Seed, int Step)> Schedule()
    {
        for (int seed = 1; seed <= 5; seed++)
            for (int step = 2; step <= 40; step++)
                yield return (seed, step);
    }

    [Fact]
    public void The_output_rule_holds_for_every_primary_crash_point()
    {
        int runs = 0, failovers = 0;
        foreach (var (seed, step) in Schedule())
        {
            var r = new FtSimulation(Options(seed, broken: false)).Run(new FaultPlan(FaultCatalogue.KillPrimary, step));
            Assert.True(r.Violations.Count == 0, $"seed {seed}, crash at {step}: {string.Join("; ", r.Violations)}");
            Assert.True(r.Completed, $"seed {seed}, crash at {step}: did not complete");
            runs++;
            if (r.FailoverStep is not null) failovers++;
        }
        Assert.True(failovers > runs / 2, $"only {failovers} of {runs} runs actually failed over");
    }

    [Fact]
    public void Releasing_output_before_the_ack_is_caught()
    {
        var caught = new List<string>();
        foreach (var (seed, step) in Schedule())
        {
            var r = new FtSimulation(Options(seed, broken: true)).Run(new FaultPlan(FaultCatalogue.KillPrimary, step));
            caught.AddRange(r.Violations.Select(v => $"seed {seed} crash {step}: {v}"));
        }
        Assert.NotEmpty(caught);
    }
}
