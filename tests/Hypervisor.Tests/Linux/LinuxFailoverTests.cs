using System.Diagnostics;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>
/// Debian's kernel under FT as three real processes: a shell session through the relay, the primary
/// SIGKILLed while the shell runs a loop that prints as it goes, and what the client saw after the
/// marker compared byte for byte with the same session on the guest alone (<c>vmft demo --linux</c>'s path).
/// </summary>
public sealed class LinuxFailoverTests(ITestOutputHelper log)
{
    [Fact]
    public void APrimaryKilledInABusyShellLoopLeavesTheSessionUnchanged()
    {
        var image = LinuxGuestImage.Default;
        if (image.Problem is not null) Assert.Fail(image.Problem);
        var output = new StringWriter();
        // Generous failure-detector timing and limits: the machine running the tests may be loaded.
        var outcome = LinuxFailoverDemo.Run(image, output, loopIterations: 2_000, timeout: TimeSpan.FromMinutes(12),
            startInfo: VmftProcess.StartInfo, nodeArgs: ["--heartbeat-ms", "200", "--timeout-ms", "2000"]);
        log.WriteLine(output.ToString());
        Assert.True(outcome.Killed, "the primary was never killed");
        Assert.NotNull(outcome.Reference);
        Assert.Contains("loop done 2000", outcome.Reference);
        Assert.Equal(outcome.Reference, outcome.Transcript);
        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("transcript identical to the failure-free run", output.ToString());
    }
}
