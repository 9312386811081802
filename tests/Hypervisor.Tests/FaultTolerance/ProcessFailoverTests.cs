using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using VmFt.Guest.Images;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// <c>vmft backup</c>, <c>vmft primary</c> and <c>vmft relay</c> as real processes on loopback: the
/// primary is SIGKILLed mid-session and the client's transcript is still the failure-free one.
/// </summary>
public class ProcessFailoverTests(ITestOutputHelper log)
{
    [Fact]
    public Task KilledPrimaryProcessLeavesTheTranscriptUnchanged() => KillSessionAsync(log);

    /// <summary>
    /// kvstore under FT as processes, a scripted client, the primary SIGKILLed halfway (after
    /// <paramref name="atKill"/> ran, which may fault the arbiter, say); the transcript must be the
    /// failure-free one and the backup serving as generation 1. Returns every line the processes printed.
    /// </summary>
    internal static async Task<string> KillSessionAsync(ITestOutputHelper log, string? arbiter = null, Action? atKill = null, Action? afterKill = null)
    {
        string[] lines = FailoverDemo.Script(30);
        int expected = lines.Length + 1;
        string baseline = SoloTranscript.Run(BundledImages.Get("kvstore"), "kvstore", 64 << 20, lines, expected);
        var output = new StringBuilder();
        using var cluster = new FtProcesses
        {
            StartInfo = VmftProcess.StartInfo,
            Arbiter = arbiter,
            Line = l => { lock (output) output.AppendLine($"[{l.Child}] {l.Text}"); },
        };
        try
        {
            // Generous timeouts: the machine running the tests may be loaded.
            // A VM of its own: an arbiter shared between tests (etcd) starts each contest fresh.
            string vm = "vm-" + Guid.NewGuid().ToString("N")[..12];
            string address = await cluster.StartAsync(["kvstore"], ["--heartbeat-ms", "200", "--timeout-ms", "2000", "--vm-id", vm], TimeSpan.FromSeconds(60));
            using var client = new TcpClient();
            client.Connect(EndPointParser.Parse(address, "relay"));
            var stream = client.GetStream();
            var transcript = new StringBuilder();
            _ = Task.Run(() =>
            {
                var buffer = new byte[4096];
                int r;
                try
                {
                    while ((r = stream.Read(buffer)) > 0) lock (transcript) transcript.Append(Encoding.ASCII.GetString(buffer, 0, r));
                }
                catch (IOException) { }
            });
            for (int i = 0; i < lines.Length; i++)
            {
                if (i == lines.Length / 2)
                {
                    // Only after the primary has answered something, so the kill is mid-session.
                    WaitForLines(transcript, 3, TimeSpan.FromSeconds(30));
                    atKill?.Invoke();
                    cluster.Primary!.Kill();
                    afterKill?.Invoke();
                }
                stream.Write(Encoding.ASCII.GetBytes(lines[i] + "\n"));
                Thread.Sleep(50);
            }
            WaitForLines(transcript, expected, TimeSpan.FromSeconds(60));
            string got;
            lock (transcript) got = transcript.ToString();
            Assert.Equal(baseline, got);
            Assert.True(cluster.Primary!.HasExited);
            Assert.False(cluster.Backup!.HasExited, "the backup must be serving as the new primary");
            // Its status lines come on its stdout, read on a thread of their own: on a loaded machine
            // the go-live line can reach this process after the replies it preceded.
            await cluster.Backup.WaitForLineAsync(l => l.Contains(": live as generation 1", StringComparison.Ordinal) ? l : null,
                TimeSpan.FromSeconds(30), "the go-live line");
        }
        finally
        {
            lock (output) log.WriteLine(output.ToString());
        }
        lock (output)
        {
            Assert.Contains(cluster.Backup!.Lines, l => l.Text.Contains("backup: live as generation 1", StringComparison.Ordinal));
            return output.ToString();
        }
    }

    private static void WaitForLines(StringBuilder transcript, int count, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            lock (transcript) if (transcript.ToString().Count(c => c == '\n') >= count) return;
            Thread.Sleep(20);
        }
    }

    [Fact]
    public async Task WrongSecretIsRefusedAndBothNodesExitNonZero()
    {
        int logPort = FtProcesses.FreePort();
        string arbiter = Directory.CreateTempSubdirectory("vmft-arbiter-").FullName;
        try
        {
            var backup = Task.Run(() => Run(["backup", "kvstore", "--listen", $"127.0.0.1:{logPort}", "--relay-port", "0", "--arbiter", arbiter, "--secret", "right"]));
            await Task.Delay(500);
            var primary = Task.Run(() => Run(["primary", "kvstore", "--backup", $"127.0.0.1:{logPort}", "--relay-port", "0", "--arbiter", arbiter, "--secret", "wrong"]));
            var (bExit, bErr) = await backup;
            var (pExit, pErr) = await primary;
            log.WriteLine($"backup {bExit}: {bErr}\nprimary {pExit}: {pErr}");
            Assert.NotEqual(0, bExit);
            Assert.NotEqual(0, pExit);
            Assert.StartsWith("vmft backup: logging channel from the primary refused", bErr);
            Assert.StartsWith("vmft primary: logging channel to 127.0.0.1:" + logPort + " refused", pErr);
            Assert.Single(bErr.Trim().Split('\n'));
            Assert.Single(pErr.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(arbiter, recursive: true);
        }
    }

    [Fact]
    public async Task NodesThatLoadedDifferentMachinesRefuseEachOtherWithOneLineEach()
    {
        // Same image, another command line: the backup would replay a log of a machine it does not hold.
        int logPort = FtProcesses.FreePort();
        string arbiter = Directory.CreateTempSubdirectory("vmft-arbiter-").FullName;
        try
        {
            var backup = Task.Run(() => Run(["backup", "kvstore", "--cmdline", "one", "--listen", $"127.0.0.1:{logPort}", "--relay-port", "0", "--arbiter", arbiter]));
            await Task.Delay(500);
            var primary = Task.Run(() => Run(["primary", "kvstore", "--cmdline", "two", "--backup", $"127.0.0.1:{logPort}", "--relay-port", "0", "--arbiter", arbiter]));
            var (bExit, bErr) = await backup;
            var (pExit, pErr) = await primary;
            log.WriteLine($"backup {bExit}: {bErr}\nprimary {pExit}: {pErr}");
            Assert.Equal(1, bExit);
            Assert.Equal(1, pExit);
            Assert.StartsWith("vmft backup: logging channel from the primary refused", bErr);
            Assert.StartsWith("vmft primary: logging channel to 127.0.0.1:" + logPort + " refused", pErr);
            Assert.Contains("the peer started another machine", bErr);
            Assert.Contains("the peer started another machine", pErr);
            Assert.Single(bErr.Trim().Split('\n'));
            Assert.Single(pErr.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(arbiter, recursive: true);
        }
    }

    [Fact]
    public void BadNodeArgumentsAreOneLineAndExitTwo()
    {
        var (exit, err) = Run(["primary", "kvstore", "--backup", "nohostport", "--relay-port", "0", "--arbiter", Path.GetTempPath()]);
        Assert.Equal(2, exit);
        Assert.Equal("vmft primary: --backup: 'nohostport' is not HOST:PORT", err.Trim());

        (exit, err) = Run(["primary", "kvstore", "--backup", "127.0.0.1:1", "--relay-port", "0", "--arbiter", Path.GetTempPath(), "--checkpoint-interval", "0"]);
        Assert.Equal(2, exit);
        Assert.Equal("vmft primary: --checkpoint-interval: must be at least 1", err.Trim());

        (exit, err) = Run(["primary", "kvstore", "--backup", "127.0.0.1:1", "--relay-port", "0", "--arbiter", "etcd://nohost"]);
        Assert.Equal(2, exit);
        Assert.Equal("vmft primary: --arbiter 'etcd://nohost': member 'nohost' is not HOST:PORT", err.Trim());

        (exit, err) = Run(["ft", "kvstore", "--arbiter", "etcd://a:99999"]);
        Assert.Equal(2, exit);
        Assert.Equal("vmft ft: --arbiter 'etcd://a:99999': member 'a:99999' has no port between 1 and 65535", err.Trim());

        (exit, err) = Run(["ft", "--from-recording", Path.Combine(Path.GetTempPath(), "no-such-recording.vmrec")]);
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));

        (exit, err) = Run(["backup", "kvstore", "--listen", "127.0.0.1:0", "--relay-port", "0", "--arbiter", Path.GetTempPath(), "--max-lag-instructions", "5"]);
        Assert.Equal(2, exit);
        Assert.StartsWith("vmft backup: --max-lag-instructions 5: at least 100000", err.Trim());
        Assert.Single(err.Trim().Split('\n'));
    }

    private static (int Exit, string Stderr) Run(string[] args)
    {
        using var p = Process.Start(VmftProcess.StartInfo(args))!;
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"vmft {string.Join(' ', args)} did not exit");
        }
        return (p.ExitCode, err.Result);
    }
}
