using VmFt.Hypervisor.Bench;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

public class ThreadedFtTests
{
    [Fact]
    public void Primary_and_backup_on_two_threads_release_all_output_once_the_backup_has_the_log()
    {
        var f = FtBenchmark.Run(iterations: 50);
        Assert.Contains("cpubench OK", f.Output);
        Assert.True(f.LogBytes > 0);
        Assert.True(f.HoldP50Ms >= 0);
    }
}
