using System.Text;
using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.Simulation;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The simulator with a shared disk: the disk guest's journal, whose records carry the guest's TSC,
/// so the write of a line the backup never logged cannot be issued again by the backup.
/// </summary>
public class SimulatedDiskTests
{
    private static readonly FaultScenario[] Every = [.. SimulatedFaults.Scenarios];
    private static readonly SimulatedWorkload Journal = SimulatedWorkload.Journal;

    private static SimulationResult Run(int seed, FaultPlan plan, bool breakDiskRule = false, SimulatedWorkload? workload = null) =>
        new FtSimulation(ScheduleExplorer.Options(seed, new Random(seed), workload: workload ?? Journal, breakDiskRule: breakDiskRule)).Run(plan);

    [Fact]
    public void The_failure_free_journal_commits_every_line()
    {
        var r = Run(1, FaultPlan.None);
        Assert.True(r.Completed, r.Transcript);
        Assert.Empty(r.Violations);
        Assert.Contains("journal ready\n", r.Transcript);
        Assert.Equal(Journal.Requests.Length, r.Transcript.Split('\n').Count(l => l.StartsWith("committed ", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("journal", 2)]
    [InlineData("journal-nonshared", 4)]
    public void Killing_the_primary_at_steps_across_the_run_loses_no_committed_record_and_lands_no_write_never_issued(string name, int stride)
    {
        // Every second (shared) or fourth (non-shared) step here; vmft simulate --workload journal
        // explores any step. With a disk of each node's own, the records the client saw committed are on the new
        // primary's disk only if its replay performed them there: the check below sees that too.
        var workload = SimulatedWorkload.All.Single(w => w.Name == name);
        int steps = Run(1, FaultPlan.None, workload: workload).Steps;
        var failures = new List<string>();
        int failovers = 0;
        Parallel.For(0, steps / stride, i =>
        {
            int step = 1 + i * stride;
            var r = Run(step, new FaultPlan(FaultCatalogue.KillPrimary, step), workload: workload);
            lock (failures)
            {
                if (r.FailoverStep is not null) failovers++;
                if (r.Violations.Count > 0 || !r.Completed) failures.Add($"kill at step {step}: {(r.Completed ? "" : "did not complete; ")}{string.Join("; ", r.Violations)}");
            }
        });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(failovers >= steps / stride * 9 / 10, $"{failovers} failovers in {steps / stride} kills");
    }

    [Fact]
    public void Fault_schedules_on_the_journal_run_without_a_violation()
    {
        var report = new StringWriter();
        int violations = ScheduleExplorer.Explore(60, 9000, Every, report, workload: Journal);
        Assert.True(violations == 0, report.ToString());
        Assert.Contains("runs of journal", report.ToString());
    }

    [Fact]
    public void Fault_schedules_around_a_guest_that_exits_run_without_a_violation()
    {
        // The self-test ends the guest within a few steps: every fault then strikes around the
        // exit, where the nodes leave and the relay must still get the last output.
        var report = new StringWriter();
        int violations = ScheduleExplorer.Explore(300, 12_000, Every, report, workload: SimulatedWorkload.DiskSelfTest);
        Assert.True(violations == 0, report.ToString());
        Assert.Contains("300 runs of disk-selftest", report.ToString());
    }

    [Fact]
    public void A_write_performed_before_its_issue_is_acknowledged_is_caught()
    {
        // The primary writes as soon as its guest issues: killed before the backup logged the line,
        // it leaves on the disk a record the new primary's guest (stamping another TSC) never wrote.
        int steps = Run(1, FaultPlan.None).Steps;
        string? caught = null;
        for (int step = 1; step <= steps && caught is null; step++)
            caught = Run(step, new FaultPlan(FaultCatalogue.KillPrimary, step), breakDiskRule: true).Violations
                .FirstOrDefault(v => v.Contains("never issued", StringComparison.Ordinal));
        Assert.NotNull(caught);
        Assert.Matches(@"A wrote sector \d+ \('J \d+ 0x[0-9a-f]{8} entry .*which the serving node B's guest never issued", caught);
    }

    [Fact]
    public void A_committed_record_missing_from_the_disk_is_flagged()
    {
        var disk = new byte[128 * 512];
        string transcript = "journal ready\ncommitted 0 0x00001234\ncommitted 1 0x00005678\n";
        Encoding.ASCII.GetBytes("J 0 0x00001234 entry 1 b\n").CopyTo(disk, 8 * 512);
        var problems = Journal.CheckDisk(transcript, disk).ToList();
        var problem = Assert.Single(problems);
        Assert.Contains("record 1 committed", problem);
        Encoding.ASCII.GetBytes("J 1 0x00005678 entry 2 cc\n").CopyTo(disk, 9 * 512);
        Assert.Empty(Journal.CheckDisk(transcript, disk));
        Encoding.ASCII.GetBytes("J 1 0x00005679").CopyTo(disk, 9 * 512); // another TSC: another record
        Assert.Single(Journal.CheckDisk(transcript, disk));
    }
}
