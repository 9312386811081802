using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Storage;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Storage;

/// <summary>
/// The disk guest under FT as real processes (<c>vmft backup</c>, <c>primary</c> and <c>relay</c>)
/// on one shared disk file: the client gets the guest's whole output through the relay, the file
/// holds the guest's write, and the backup, having replayed every read from the log, ends with it.
/// </summary>
public class DiskProcessTests(ITestOutputHelper log)
{
    /// <summary>The disk guest's output through the relay, up to its verdict line (30 s at most).</summary>
    private static string ReadUntilTheEnd(string relayAddress)
    {
        using var client = new TcpClient();
        client.Connect(EndPointParser.Parse(relayAddress, "relay"));
        var stream = client.GetStream();
        stream.ReadTimeout = 30_000;
        var transcript = new StringBuilder();
        var buffer = new byte[4096];
        var clock = Stopwatch.StartNew();
        while (!transcript.ToString().Contains("disk: all ok\n") && !transcript.ToString().Contains("FAILED") && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            int n = stream.Read(buffer);
            if (n <= 0) break;
            transcript.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        return transcript.ToString();
    }

    [Fact]
    public async Task TheDiskGuestRunsUnderFtOnASharedFile()
    {
        string disk = Path.Combine(Path.GetTempPath(), $"vmft-ft-disk-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        var bytes = MemoryDisk.Pattern();
        File.WriteAllBytes(disk, bytes);
        uint expectedHash = DiskGuestTests.Fnv(bytes.AsSpan(0, 4096));
        var output = new StringBuilder();
        try
        {
            using (var cluster = new FtProcesses { StartInfo = VmftProcess.StartInfo, Line = l => { lock (output) output.AppendLine($"[{l.Child}] {l.Text}"); } })
            {
                string address = await cluster.StartAsync(["disk", "--disk", disk], ["--heartbeat-ms", "200", "--timeout-ms", "2000"], TimeSpan.FromSeconds(60));
                string got = ReadUntilTheEnd(address);
                lock (output) log.WriteLine(output.ToString());
                Assert.Contains($"disk: read 0-7 fnv 0x{expectedHash:x8}\n", got);
                Assert.Contains("disk: all ok\n", got);
                var wait = Stopwatch.StartNew();
                while (!(cluster.Primary!.HasExited && cluster.Backup!.HasExited) && wait.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(50);
                Assert.True(cluster.Primary.HasExited, "the primary did not end with its guest");
                Assert.True(cluster.Backup!.HasExited, "the backup did not end with the primary's guest");
            }
            var after = File.ReadAllBytes(disk);
            for (int i = 0; i < 1024; i++) Assert.Equal((byte)(i * 3 + 1), after[512 + i]);
            Assert.Equal(bytes.AsSpan(2048).ToArray(), after.AsSpan(2048).ToArray());
        }
        finally
        {
            File.Delete(disk);
        }
    }

    [Fact]
    public async Task WithADiskOfEachNodesOwnBothCopiesEndWithTheGuestsWrite()
    {
        // The primary writes its copy at once; the backup writes its own as its replay completes
        // the guest's write, so both files end the same.
        string Copy(string which) => Path.Combine(Path.GetTempPath(), $"vmft-ft-disk-{which}-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        string primaryDisk = Copy("primary"), backupDisk = Copy("backup");
        var bytes = MemoryDisk.Pattern();
        File.WriteAllBytes(primaryDisk, bytes);
        File.WriteAllBytes(backupDisk, bytes);
        var output = new StringBuilder();
        try
        {
            using (var cluster = new FtProcesses
            {
                StartInfo = VmftProcess.StartInfo,
                Line = l => { lock (output) output.AppendLine($"[{l.Child}] {l.Text}"); },
                PrimaryArgs = ["--disk", primaryDisk + ",nonshared"],
                BackupArgs = ["--disk", backupDisk + ",nonshared"],
            })
            {
                string address = await cluster.StartAsync(["disk"], ["--heartbeat-ms", "200", "--timeout-ms", "2000"], TimeSpan.FromSeconds(60));
                string got = ReadUntilTheEnd(address);
                lock (output) log.WriteLine(output.ToString());
                Assert.Contains("disk: all ok\n", got);
                var wait = Stopwatch.StartNew();
                while (!(cluster.Primary!.HasExited && cluster.Backup!.HasExited) && wait.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(50);
                Assert.True(cluster.Backup!.HasExited, "the backup did not end with the primary's guest");
            }
            foreach (string disk in new[] { primaryDisk, backupDisk })
            {
                var after = File.ReadAllBytes(disk);
                for (int i = 0; i < 1024; i++) Assert.True((byte)(i * 3 + 1) == after[512 + i], $"{disk}: byte {512 + i}");
                Assert.Equal(bytes.AsSpan(2048).ToArray(), after.AsSpan(2048).ToArray());
            }
        }
        finally
        {
            File.Delete(primaryDisk);
            File.Delete(backupDisk);
        }
    }

    [Fact]
    public async Task APrimaryWithItsOwnDiskAndABackupThatSharesOneRefuseEachOther()
    {
        // Otherwise the primary would write at once and the backup, going live, would trust a disk
        // that holds writes its guest never issued.
        string disk = Path.Combine(Path.GetTempPath(), $"vmft-ft-disk-mode-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(disk, new byte[64 * 1024]);
        var output = new StringBuilder();
        try
        {
            using var cluster = new FtProcesses
            {
                StartInfo = VmftProcess.StartInfo,
                Line = l => { lock (output) output.AppendLine($"[{l.Child}] {l.Text}"); },
                PrimaryArgs = ["--disk", disk + ",nonshared"],
                BackupArgs = ["--disk", disk],
            };
            try
            {
                await cluster.StartAsync(["disk"], [], TimeSpan.FromSeconds(60));
            }
            catch (ClusterStartException)
            {
                // the start-up may already see a node end: the check is below either way
            }
            var wait = Stopwatch.StartNew();
            while (!(cluster.Primary!.HasExited && cluster.Backup!.HasExited) && wait.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(50);
            Assert.True(cluster.Primary.HasExited && cluster.Backup!.HasExited, "a node went on with a peer of the other disk mode");
            Assert.NotEqual(0, cluster.Primary.ExitCode);
            Assert.NotEqual(0, cluster.Backup.ExitCode);
            string text;
            lock (output) text = output.ToString();
            log.WriteLine(text);
            Assert.Contains("the peer started another machine", text);
        }
        finally
        {
            File.Delete(disk);
        }
    }
}
