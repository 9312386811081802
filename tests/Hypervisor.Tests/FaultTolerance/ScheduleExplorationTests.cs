using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.Simulation;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

public class ScheduleExplorationTests
{
    private static readonly FaultScenario[] Every = [.. SimulatedFaults.Scenarios];

    [Fact]
    public void Ten_thousand_fault_schedules_run_without_a_violation()
    {
        var report = new StringWriter();
        int violations = ScheduleExplorer.Explore(10_000, 50_000, Every, report);
        string text = report.ToString();
        Assert.True(violations == 0, text);
        Assert.Contains("simulate: 10000 runs", text);
        Assert.Contains(", 0 violations", text);
    }

    [Fact]
    public void The_default_budget_catches_output_released_before_the_ack()
    {
        // vmft simulate's defaults: 1000 runs from seed 1, every scenario.
        var report = new StringWriter();
        int violations = ScheduleExplorer.Explore(1000, 1, Every, report, breakOutputRule: true);
        string text = report.ToString();
        Assert.True(violations > 0, text);
        Assert.Contains("output rule broken", text);
        // Not only the direct check of the rule: some runs show the client what it costs (a reply
        // the serving node never produced, or a transcript other than the failure-free one).
        Assert.Matches("VIOLATION .*(the live node B produced|transcript differs|did not complete)", text);
        Assert.Contains("--break-output-rule]", text);
    }

    [Fact]
    public void Plans_draw_every_kind_and_sometimes_two_faults()
    {
        var kinds = new HashSet<FaultScenario>();
        int pairs = 0;
        for (int seed = 0; seed < 500; seed++)
        {
            var plan = ScheduleExplorer.Plan(new Random(seed), Every, failureTimeout: 20, runSteps: 60);
            foreach (var f in plan.Faults)
            {
                kinds.Add(f.Scenario);
                Assert.InRange(f.AtStep, 1, 60);
                if (f.Scenario == FaultCatalogue.Pause || f.Scenario == FaultCatalogue.RelayReset) Assert.True(f.Duration > 0, plan.ToString());
            }
            if (plan.Faults.Count == 2)
            {
                pairs++;
                Assert.Equal(FaultCatalogue.RelayReset, plan.Faults[1].Scenario);
            }
        }
        Assert.Equal(Every.ToHashSet(), kinds);
        Assert.InRange(pairs, 50, 250);
    }

    [Fact]
    public void A_seed_repeats_exactly_and_so_does_an_exploration_run_on_every_core()
    {
        foreach (int seed in new[] { 7, 1234, 99_999 })
        {
            SimulationResult Once()
            {
                var pick = new Random(seed);
                var options = ScheduleExplorer.Options(seed, pick);
                return new FtSimulation(options).Run(ScheduleExplorer.Plan(pick, Every, options.FailureTimeout, runSteps: 60));
            }
            var a = Once();
            var b = Once();
            Assert.Equal(a.Transcript, b.Transcript);
            Assert.Equal((a.Steps, a.FailoverStep, a.LiveAgainStep, a.LiveNodeAtEnd), (b.Steps, b.FailoverStep, b.LiveAgainStep, b.LiveNodeAtEnd));
            Assert.Equal(a.Violations, b.Violations);
        }
        // Broken on purpose, so that there are violation lines to compare: same lines, same order.
        static string ViolationLines()
        {
            var report = new StringWriter();
            ScheduleExplorer.Explore(150, 300, Every, report, breakOutputRule: true);
            return string.Join('\n', report.ToString().Split('\n').Where(l => l.StartsWith("VIOLATION", StringComparison.Ordinal)));
        }
        string x = ViolationLines();
        Assert.NotEmpty(x);
        Assert.Equal(x, ViolationLines());
    }

    [Fact]
    public void Timing_fields_are_blanked_and_nothing_else()
    {
        Assert.Equal("c3 1 STATS keys=2 requests=4 uptime_ticks=* tsc=*\nc1 1 OK\n",
            ScheduleExplorer.WithoutTiming("c3 1 STATS keys=2 requests=4 uptime_ticks=17 tsc=123456789\nc1 1 OK\n"));
    }
}
