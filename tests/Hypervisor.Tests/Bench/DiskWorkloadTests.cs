using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>
/// <c>vmft bench disk</c>'s reading of what the guest prints (busybox dd's record counts, the
/// result line with the guest's clock), and its argument errors. The figures themselves are the
/// benchmark's to print, not a test's to assert.
/// </summary>
public sealed class DiskWorkloadTests
{
    // As the serial console brings it: the echo of the typed command, dd's counts, the result line, the prompt.
    private static string Printed(string command, string between) =>
        $"{command}\r\n{between}@@42 1234.56 1238.81 0\r\n~ # \u001b[6n";

    [Fact]
    public void ASequentialDdReadsAsItsRecordsAndTheGuestsSeconds()
    {
        string command = DiskWorkload.SequentialWrite(32);
        var m = DiskWorkload.Parse(Printed(command, "32+0 records in\r\n32+0 records out\r\n"));
        Assert.Equal(4.25, m.Seconds, 6);
        Assert.Equal(0, m.Failures);
        Assert.Equal(32, m.RecordsOut);
        Assert.Equal(32 * 1048576 / 1e6 / 4.25, DiskWorkload.MegabytesPerSecond(m, 32, "write"), 6);
    }

    [Fact]
    public void TheEchoOfACommandHoldsNoResultLine()
    {
        // The echo comes first: were the marker in it, a result would be read before the guest printed one.
        foreach (string command in new[] { DiskWorkload.SequentialWrite(8), DiskWorkload.SequentialRead(8), DiskWorkload.RandomRead(10, 2048),
                     DiskWorkload.RandomWrite(10, 2048), DiskWorkload.NoDisk(10), DiskWorkload.Ticking(10, 2048) })
        {
            Assert.DoesNotContain(DiskWorkload.Result.Trim(), command);
            Assert.Throws<FormatException>(() => DiskWorkload.Parse(command + "\r\n"));
        }
    }

    [Fact]
    public void AShortOrFailedTransferIsAnErrorNotAFigure()
    {
        var shortRead = DiskWorkload.Parse(Printed("x", "dd: /dev/vda: I/O error\r\n12+0 records in\r\n12+0 records out\r\n"));
        var e = Assert.Throws<InvalidOperationException>(() => DiskWorkload.MegabytesPerSecond(shortRead, 32, "read"));
        Assert.Contains("12 of 32 records out", e.Message);
        var failed = DiskWorkload.Parse("x\r\n@@42 10.00 12.50 3\r\n");
        Assert.Equal(3, failed.Failures);
        Assert.Throws<InvalidOperationException>(() => DiskWorkload.PerSecond(failed, 200, "random reads"));
        Assert.Equal(80, DiskWorkload.PerSecond(DiskWorkload.Parse("@@42 10.00 12.50 0\n"), 200, "random reads"), 6);
    }

    [Fact]
    public void AClockThatGoesBackwardsOrAMissingResultIsAFormatError()
    {
        Assert.Throws<FormatException>(() => DiskWorkload.Parse("@@42 12.00 11.00 0\r\n"));
        Assert.Throws<FormatException>(() => DiskWorkload.Parse("32+0 records out\r\n~ # "));
        Assert.Throws<FormatException>(() => DiskWorkload.Parse("@@42 12.00\r\n"));
    }

    [Fact]
    public void WithoutQemuTheTableSaysSoInItsColumnAndKeepsTheRest()
    {
        var row = new LinuxDiskBenchmark.Row(20, 40, 100, 50, 200) { ReadSeconds = 0.84 };
        var settings = new LinuxDiskBenchmark.Settings(64, 32, 200, TimeSpan.FromMinutes(1), WithQemu: true);
        var f = new LinuxDiskBenchmark.Figures(row, row with { WriteMBps = 10 }, null, LinuxBenchmark.QemuMissing, 35_000_000, 0.84,
            new LinuxDiskBenchmark.GoLive(700, 750, 760, "backup: live as generation 2", 1, 1), null);
        var lines = VmFt.Hypervisor.Cli.BenchDiskCommand.Table(f, settings);
        string write = lines.Single(l => l.Contains("sequential write"));
        Assert.Contains("0.50", write);                                   // FT/solo
        Assert.EndsWith("-          -", write.TrimEnd());                 // no QEMU figure, no ratio
        Assert.Contains(lines, l => l.Contains("QEMU TCG: qemu-system-i386 is not installed"));
        Assert.Contains(lines, l => l.Contains("333.3 Mbit/s"));           // 35e6 bytes * 8 / 0.84 s
        Assert.Contains(lines, l => l.Contains("kill to the first output after it 750 ms"));
    }

    [Theory]
    [InlineData("--disk-mib", "4")]
    [InlineData("--seq-mib", "0")]
    [InlineData("--seq-mib", "65")]
    [InlineData("--ios", "5")]
    [InlineData("--timeout", "0")]
    [InlineData("--timeout-ms", "10")]
    public void BadFlagIsOneLineAndExitTwo(string flag, string value)
    {
        var (exit, stdout, stderr) = VmftProcess.Run("", "bench", "disk", flag, value);
        Assert.Equal(2, exit);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith($"vmft bench disk: {flag} {value}", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void AFlagTheCommandDoesNotKnowIsOneLineAndExitTwo()
    {
        var (exit, stdout, stderr) = VmftProcess.Run("", "bench", "disk", "--bogus", "1");
        Assert.Equal(2, exit);
        Assert.Equal("vmft bench disk: Unrecognized command or argument '--bogus'.", stderr.Trim());
        Assert.Equal("", stdout);
    }

    [Fact]
    public void AGuestThatIsNotBuiltIsOneLineAndExitTwo()
    {
        var (exit, _, stderr) = VmftProcess.Run("", "bench", "disk", "--dir", Path.Combine(Path.GetTempPath(), $"vmft-no-linux-{Guid.NewGuid():N}"));
        Assert.Equal(2, exit);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("the Linux guest is not built", stderr);
    }
}
