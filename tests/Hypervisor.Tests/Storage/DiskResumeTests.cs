using VmFt.Hypervisor.Storage;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;

namespace VmFt.Hypervisor.Tests.Storage;

/// <summary>
/// <c>--from-recording</c> with <c>--disk</c>: the disk guest recorded until it has read its first
/// sectors, then resumed on a copy of the disk as it was; the rest of its run (a write, a flush, a
/// read back) happens on the copy. A resume without the disk, or with one of another size or mode,
/// is one line and exit 2.
/// </summary>
public sealed class DiskResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vmft-disk-resume-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Disk(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string RecordToTheFirstRead()
    {
        string recording = Path.Combine(_dir, "first-read.vmrec");
        var rec = VmftProcess.Run("", "record", "disk", "--disk", Disk("recorded.img", MemoryDisk.Pattern()), "--clock", "virtual",
            "--until-output", "disk: read 0-7 fnv", "-o", recording);
        Assert.True(rec.Exit == 0, rec.Stderr);
        return recording;
    }

    [Fact]
    public void AResumedDiskGuestGoesOnOnTheDiskItIsGiven()
    {
        string recording = RecordToTheFirstRead();
        var bytes = MemoryDisk.Pattern();
        string copy = Disk("copy.img", bytes);
        var run = VmftProcess.Run("", "run", "--from-recording", recording, "--disk", copy, "--clock", "virtual");
        Assert.True(run.Exit == 1, $"exit {run.Exit}: {run.Stderr}");   // the guest's own verdict: status 1, every step as expected
        Assert.DoesNotContain("disk: read 0-7 fnv", run.Stdout);          // printed before the recording ended
        Assert.Contains("disk: all ok\n", run.Stdout);
        var after = File.ReadAllBytes(copy);
        for (int i = 0; i < 1024; i++) Assert.Equal((byte)(i * 3 + 1), after[512 + i]);
        Assert.Equal(bytes.AsSpan(2048).ToArray(), after.AsSpan(2048).ToArray());
    }

    [Fact]
    public void AResumeWithoutTheDiskOrWithAnotherIsOneLineAndExitTwo()
    {
        string recording = RecordToTheFirstRead();
        string kvstore = Path.Combine(_dir, "kvstore.vmrec");
        Assert.Equal(0, VmftProcess.Run("", "record", "kvstore", "--clock", "virtual", "--until-output", "kvstore ready", "-o", kvstore).Exit);
        string copy = Disk("copy.img", MemoryDisk.Pattern());
        string small = Disk("small.img", new byte[512 * 16]);
        foreach (var (args, says) in new (string[], string)[]
        {
            (["run", "--from-recording", recording], "give a copy of it with --disk FILE"),
            (["run", "--from-recording", recording, "--disk", small], "16 sectors"),
            (["run", "--from-recording", recording, "--disk", copy + ",readonly"], "writable disk"),
            (["run", "--from-recording", kvstore, "--disk", copy], "has no disk"),
        })
        {
            var (exit, _, stderr) = VmftProcess.Run("", args);
            Assert.True(exit == 2, $"{string.Join(' ', args)}: exit {exit}: {stderr}");
            string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains(says, line);
        }
    }
}
