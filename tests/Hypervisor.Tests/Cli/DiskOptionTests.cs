using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary><c>--disk FILE[,readonly]</c> on the command line: the disk guest end to end, and every bad disk as one line and exit 2.</summary>
public sealed class DiskOptionTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"vmft-disk-cli-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public DiskOptionTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string File(string name, int bytes)
    {
        string path = Path.Combine(_folder, name);
        var data = new byte[bytes];
        for (int i = 0; i < bytes; i++) data[i] = (byte)(i / 512);
        System.IO.File.WriteAllBytes(path, data);
        return path;
    }

    [Fact]
    public void RunAndRecordServeTheDiskAndReplayNeedsNoFile()
    {
        string disk = File("disk.img", 64 * 1024);
        var (exit, stdout, stderr) = VmftProcess.Run("", "run", "disk", "--clock", "virtual", "--disk", disk);
        Assert.True(exit == 1, $"exit {exit}: {stdout}{stderr}");
        Assert.Contains("disk: all ok", stdout);
        Assert.Equal((byte)(3 + 1), System.IO.File.ReadAllBytes(disk)[513]);

        string recording = Path.Combine(_folder, "disk.vmrec");
        (exit, _, stderr) = VmftProcess.Run("", "record", "disk", "--clock", "virtual", "--disk", disk + ",readonly", "-o", recording);
        Assert.True(exit == 3, $"exit {exit}: {stderr}");   // the guest counts the refused write
        System.IO.File.Delete(disk);
        (exit, stdout, stderr) = VmftProcess.Run("", "replay", recording, "--show-output");
        Assert.True(exit == 0, $"exit {exit}: {stdout}{stderr}");
        Assert.Contains("replay OK", stdout + stderr);
        Assert.Contains("disk: write 1-2 status 0x00000001", stdout + stderr);
    }

    [Theory]
    [InlineData("missing", "no such file")]
    [InlineData("empty", "is empty")]
    [InlineData("partial", "is 1000 bytes, not a whole number of 512-byte sectors")]
    [InlineData("directory", "is a directory")]
    [InlineData("badflag", "'readwrite' in")]
    [InlineData("noname", "names no file")]
    [InlineData("twice", "'readonly' in")]
    [InlineData("nonshared", "nonshared is for FT nodes")]
    public void ABadDiskIsOneLineAndExitCode2(string what, string expected)
    {
        string arg = what switch
        {
            "missing" => Path.Combine(_folder, "nothing.img"),
            "empty" => File("empty.img", 0),
            "partial" => File("partial.img", 1000),
            "directory" => _folder,
            "badflag" => File("ok.img", 4096) + ",readwrite",
            "twice" => File("ok.img", 4096) + ",readonly,readonly",
            "nonshared" => File("ok.img", 4096) + ",nonshared",
            _ => ",readonly",
        };
        foreach (var command in new[] { "run", "record" })
        {
            string[] args = command == "run" ? ["run", "disk", "--disk", arg] : ["record", "disk", "--disk", arg, "-o", Path.Combine(_folder, "x.vmrec")];
            var (exit, stdout, stderr) = VmftProcess.Run("", args);
            Assert.Equal(2, exit);
            Assert.Equal("", stdout);
            string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains(expected, line);
            Assert.Contains("--disk", line);
        }
    }

    [Fact]
    public void FtRefusesANonSharedDiskInOneLine()
    {
        // ft starts both nodes on the one file; a disk of each node's own takes two files.
        var (exit, stdout, stderr) = VmftProcess.Run("", "ft", "disk", "--disk", File("ok.img", 4096) + ",nonshared");
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("start primary and backup yourself with --disk FILE,nonshared", line);
    }
}
