using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.Simulation;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

public class ScheduleExplorationTests
{
    [Fact]
    public void Ten_thousand_fault_schedules_run_without_a_violation()
    {
        var report = new StringWriter();
        int exit = SimulateCommand.Explore(10_000, 50_000,
            [FaultKind.CrashPrimary, FaultKind.CrashBackup, FaultKind.Partition, FaultKind.CrashPrimaryThenNewPrimary], report);
        string text = report.ToString();
        Assert.True(exit == 0, text);
        Assert.Contains("10000 runs", text);
        Assert.Contains(", 0 violations", text);
    }
}
