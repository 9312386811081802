using VmFt.Hypervisor.Bench;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

public class ThreadedFtTests
{
    [Fact]
    public void Primary_and_backup_on_two_threads_release_all_output_once_the_backup_has_the_log()
    {
        var f = FtBenchmark.Run(iterations: 100);
        Assert.Contains("checksum=0xc38a76ac", f.Output); // the host-computed reference for 100 iterations
        Assert.Contains("cpubench OK", f.Output);
        Assert.True(f.LogBytes > 0);
        Assert.True(f.HoldP50Ms >= 0);
    }
}
