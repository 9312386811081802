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

    [Fact]
    public void A_primary_killed_after_every_repair_hands_over_generation_after_generation()
    {
        // The kvstore script, a kill at step 10, and a kill of the primary as soon as each new backup has its copy.
        var options = ScheduleExplorer.Options(5, new Random(5));
        var failureFree = new FtSimulation(options).Run(FaultPlan.None);
        var plan = new FaultPlan(new Fault(FaultCatalogue.KillLoop, 10))
        {
            AfterRepair = [.. Enumerable.Repeat(new Fault(FaultCatalogue.KillPrimary, 0), 9)],
        };
        var r = new FtSimulation(options).Run(plan);
        Assert.Empty(r.Violations);
        Assert.True(r.Completed);
        Assert.Equal(ScheduleExplorer.WithoutTiming(failureFree.Transcript), ScheduleExplorer.WithoutTiming(r.Transcript));
        // Each failover was followed by a backup joining the survivor, which served the next generation.
        Assert.True(r.Failovers >= 3, $"{r.Failovers} failovers");
        Assert.True(r.Rejoins >= r.Failovers - 1, $"{r.Rejoins} rejoins after {r.Failovers} failovers");
        Assert.Equal((ulong)r.Failovers, r.Generation);
        Assert.Equal(((char)('A' + r.Failovers)).ToString(), r.LiveNodeAtEnd);
    }

    [Fact]
    public void Hundreds_of_schedules_with_several_failovers_and_rejoins_run_without_a_violation()
    {
        var report = new StringWriter();
        int violations = ScheduleExplorer.Explore(400, 70_000, [FaultCatalogue.Repair, FaultCatalogue.KillLoop], report);
        string text = report.ToString();
        Assert.True(violations == 0, text);
        var m = System.Text.RegularExpressions.Regex.Match(text, @"(\d+) rejoins \((\d+) runs with two or more failovers, up to generation (\d+)\), 0 violations");
        Assert.True(m.Success, text);
        Assert.True(int.Parse(m.Groups[1].Value) >= 400, text);
        Assert.True(int.Parse(m.Groups[2].Value) >= 100, text);
        Assert.True(int.Parse(m.Groups[3].Value) >= 4, text);
    }

    [Fact]
    public void Output_released_before_the_ack_is_caught_in_a_repaired_generation_too()
    {
        var report = new StringWriter();
        int violations = ScheduleExplorer.Explore(200, 80_000, [FaultCatalogue.KillLoop], report, breakOutputRule: true);
        string text = report.ToString();
        Assert.True(violations > 0, text);
        Assert.Matches(@"output rule broken in generation [1-9]\d* \([B-Z], its backup [C-Z] joined\)", text);
    }
}
