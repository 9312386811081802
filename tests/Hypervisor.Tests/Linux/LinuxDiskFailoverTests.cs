using System.Text.RegularExpressions;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>
/// Linux under FT as real processes on one shared ext4 disk (<c>vmft demo --linux</c>'s path, with a
/// disk): both nodes resume a boot recorded with the disk, a shell loop writes a file and syncs,
/// sixty times; the primary is SIGKILLed after the tenth. The backup goes live, the loop goes on,
/// the client's transcript is byte for byte the one of the same session run alone in virtual time
/// on a copy of the disk, every file is on the shared disk afterwards and e2fsck -fn finds the
/// filesystem clean.
/// </summary>
public sealed class LinuxDiskFailoverTests(ITestOutputHelper log) : IDisposable
{
    private const int Files = 60, KillAfter = 10;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"vmft-linux-ft-disk-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public void APrimaryKilledInAWriteAndSyncLoopLosesNoWriteLeavesACleanFilesystemAndTheSessionUnchanged()
    {
        var image = LinuxGuestImage.Default;
        if (image.Problem is { } problem) Assert.Fail(problem);
        Directory.CreateDirectory(Path.Combine(_folder, "content"));
        File.WriteAllText(Path.Combine(_folder, "content", "seed.txt"), "seed\n");
        string disk = Path.Combine(_folder, "disk.img");
        var (made, text) = LinuxDiskSession.Tool("mke2fs", "-q", "-F", "-t", "ext4", "-d", Path.Combine(_folder, "content"), disk, "32M");
        Assert.True(made == 0, text);

        const int loop = 2;
        var script = new LinuxFailoverDemo.Script(
        [
            "dmesg -n 1",
            "mount -t ext4 /dev/vda /mnt && echo MOUNT-$((40+2))",
            $"i=0; while [ $i -lt {Files} ]; do echo file-$i > /mnt/f$i; sync; echo WROTE-$i; i=$((i+1)); done; umount /mnt; echo LOOP-$((1+1))",
            "echo after the loop $((123*456))",
        ], loop, "\nWROTE-", KillAfter + 1);
        var output = new StringWriter();
        // Generous failure-detector timing and limits: the machine running the tests may be loaded.
        var outcome = LinuxFailoverDemo.Run(image, output, timeout: TimeSpan.FromMinutes(12), startInfo: VmftProcess.StartInfo,
            nodeArgs: ["--heartbeat-ms", "200", "--timeout-ms", "4000"], script: script, disk: disk);
        log.WriteLine(output.ToString());
        Assert.True(outcome.Killed, "the primary was never killed");
        Assert.NotNull(outcome.Reference);
        Assert.Contains("MOUNT-42\r\n", outcome.Reference);
        Assert.Contains("LOOP-2\r\n", outcome.Reference);
        Assert.Equal(outcome.Reference, outcome.Transcript);
        Assert.Equal(0, outcome.ExitCode);

        var wrote = Regex.Matches(outcome.Transcript!, @"\nWROTE-(\d+)\r").Select(m => int.Parse(m.Groups[1].Value)).ToArray();
        Assert.Equal(Enumerable.Range(0, Files), wrote);
        var (fsck, fsckText) = LinuxDiskSession.Tool("e2fsck", "-f", "-n", disk);
        Assert.True(fsck == 0, "e2fsck -fn: " + fsckText);
        for (int i = 0; i < Files; i += 7)
        {
            var (cat, content) = LinuxDiskSession.Tool("debugfs", "-R", $"cat /f{i}", disk);
            Assert.Equal(0, cat);
            Assert.StartsWith($"file-{i}\n", content);
        }
    }
}
