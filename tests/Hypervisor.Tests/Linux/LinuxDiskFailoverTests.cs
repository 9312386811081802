using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>
/// Linux under FT as real processes on one shared ext4 disk: a shell loop writes a file and syncs,
/// sixty times; the primary is SIGKILLed after the tenth. The backup goes live, the loop goes on,
/// the client sees every WROTE line once and in order, every file is on the disk afterwards and
/// e2fsck -fn finds the filesystem clean.
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
    public async Task APrimaryKilledInAWriteAndSyncLoopLosesNoWriteAndLeavesACleanFilesystem()
    {
        var image = LinuxGuestImage.Default;
        if (image.Problem is { } problem) Assert.Fail(problem);
        Directory.CreateDirectory(Path.Combine(_folder, "content"));
        File.WriteAllText(Path.Combine(_folder, "content", "seed.txt"), "seed\n");
        string disk = Path.Combine(_folder, "disk.img");
        var (made, text) = LinuxDiskSession.Tool("mke2fs", "-q", "-F", "-t", "ext4", "-d", Path.Combine(_folder, "content"), disk, "32M");
        Assert.True(made == 0, text);

        var nodes = new StringBuilder();
        var transcript = new StringBuilder();
        using (var cluster = new FtProcesses { StartInfo = VmftProcess.StartInfo, Line = l => { lock (nodes) nodes.AppendLine($"[{l.Child}] {l.Text}"); } })
        {
            string address = await cluster.StartAsync(
                [image.Kernel, "--initrd", image.Initrd, "--append", "console=ttyS0", "--mem", "256M", "--disk", disk],
                ["--heartbeat-ms", "200", "--timeout-ms", "4000"], TimeSpan.FromSeconds(60));
            using var client = new TcpClient();
            client.Connect(EndPointParser.Parse(address, "relay"));
            var stream = client.GetStream();
            _ = Task.Run(() =>
            {
                var buffer = new byte[8192];
                try
                {
                    int n;
                    while ((n = stream.Read(buffer)) > 0) lock (transcript) transcript.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
                catch (IOException)
                {
                }
            });
            bool WaitFor(string s, TimeSpan timeout)
            {
                var clock = Stopwatch.StartNew();
                while (clock.Elapsed < timeout)
                {
                    lock (transcript) if (transcript.ToString().Contains(s)) return true;
                    Thread.Sleep(100);
                }
                return false;
            }
            try
            {
                Assert.True(WaitFor("~ # ", TimeSpan.FromMinutes(15)), "no shell prompt");
                stream.Write("mount -t ext4 /dev/vda /mnt && echo MOUNT-$((40+2))\n"u8);
                Assert.True(WaitFor("MOUNT-42\r\n", TimeSpan.FromMinutes(2)), "no mount");
                stream.Write(Encoding.ASCII.GetBytes($"i=0; while [ $i -lt {Files} ]; do echo file-$i > /mnt/f$i; sync; echo WROTE-$i; i=$((i+1)); done; umount /mnt; echo LOOP-$((1+1))\n"));
                Assert.True(WaitFor($"WROTE-{KillAfter}\r\n", TimeSpan.FromMinutes(5)), "the loop did not get going");
                cluster.Primary!.Kill();
                Assert.True(WaitFor("LOOP-2\r\n", TimeSpan.FromMinutes(5)), "the loop did not finish after the failover");
            }
            finally
            {
                lock (nodes) log.WriteLine(nodes.ToString());
            }
            Assert.False(cluster.Backup!.HasExited, "the backup must be serving as the new primary");
        }
        string got;
        lock (transcript) got = transcript.ToString();
        var wrote = Regex.Matches(got, @"\nWROTE-(\d+)\r").Select(m => int.Parse(m.Groups[1].Value)).ToArray();
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
