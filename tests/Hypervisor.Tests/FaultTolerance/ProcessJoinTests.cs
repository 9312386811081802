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
/// Restoring redundancy with real processes: a backup joins a running primary (<c>vmft backup
/// --join</c>) from a live copy of its machine, bad joins are refused with a line on both sides, and
/// <c>vmft ft --respawn</c> survives the primary being killed twice.
/// </summary>
public class ProcessJoinTests(ITestOutputHelper log)
{
    private static readonly string[] Timeouts = ["--heartbeat-ms", "200", "--timeout-ms", "2000"];

    [Fact]
    public async Task RespawnedBackupsSurviveTheNewPrimaryBeingKilledToo()
    {
        string[] lines = FailoverDemo.Script(45);
        int expected = lines.Length + 1;
        string baseline = SoloTranscript.Run(BundledImages.Get("kvstore"), "kvstore", 64 << 20, lines, expected);
        var output = new StringBuilder();
        using var cluster = new FtProcesses
        {
            StartInfo = VmftProcess.StartInfo,
            Respawn = true,
            Line = l => { lock (output) output.AppendLine($"[{l.Child}] {l.Text}"); },
        };
        try
        {
            string address = await cluster.StartAsync(["kvstore"], Timeouts, TimeSpan.FromSeconds(60));
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
                if (i == lines.Length / 3)
                {
                    WaitForLines(transcript, 3, TimeSpan.FromSeconds(30));
                    cluster.Primary!.Kill();
                }
                if (i == 2 * lines.Length / 3)
                {
                    // The requests since the first kill ran while the replacement joined; the new
                    // primary dies only once it is a complete replica.
                    var replacement = await WaitForReplacementAsync(cluster, 0);
                    await replacement.WaitForLineAsync(l => l.Contains(": joined the primary at ") ? l : null, TimeSpan.FromSeconds(60), "joined");
                    cluster.Backup!.Kill();
                }
                stream.Write(Encoding.ASCII.GetBytes(lines[i] + "\n"));
                Thread.Sleep(50);
            }
            WaitForLines(transcript, expected, TimeSpan.FromSeconds(60));
            string got;
            lock (transcript) got = transcript.ToString();
            Assert.Equal(baseline, got);
            var second = cluster.Replacements[0];
            await second.WaitForLineAsync(l => l.StartsWith("backup-2: live as generation 2 ", StringComparison.Ordinal) ? l : null, TimeSpan.FromSeconds(10), "live");
            Assert.False(second.HasExited, "the first replacement must be serving as the third primary");
            // And redundancy comes back once more: a third backup joins it.
            var third = await WaitForReplacementAsync(cluster, 1);
            await third.WaitForLineAsync(l => l.Contains(": joined the primary at ") ? l : null, TimeSpan.FromSeconds(60), "joined");
        }
        finally
        {
            lock (output) log.WriteLine(output.ToString());
        }
        string all;
        lock (output) all = output.ToString();
        Assert.Contains("[backup] backup: live as generation 1 ", all);
        Assert.Contains("[backup] backup: backup joined from ", all);
        Assert.Contains("[backup-3] backup-3: joined the primary at ", all);
    }

    [Fact]
    public async Task BadJoinsAreRefusedWithOneLineOnBothSidesAndADeadJoinerLeavesThePrimaryServing()
    {
        int joinPort = FtProcesses.FreePort();
        string arbiter = Directory.CreateTempSubdirectory("vmft-arbiter-").FullName;
        var clock = Stopwatch.StartNew();
        var children = new List<ChildProcess>();
        ChildProcess Start(string name, params string[] args)
        {
            var c = new ChildProcess(name, VmftProcess.StartInfo(args), () => clock.Elapsed.TotalMilliseconds, l => log.WriteLine($"[{l.Child}] {l.Text}"));
            children.Add(c);
            return c;
        }
        string[] Joiner(string name, params string[] extra) => JoinerWith("256M", name, extra);
        string[] JoinerWith(string mem, string name, params string[] extra) =>
            ["backup", "kvstore", "--mem", mem, "--join", $"127.0.0.1:{joinPort}", "--listen", "127.0.0.1:0", "--relay-port", "0", "--arbiter", arbiter, "--node-id", name, .. Timeouts, .. extra];
        try
        {
            // 256 MiB of RAM, so that a copy lasts long enough to kill the joiner in the middle.
            var primary = Start("primary", ["primary", "kvstore", "--mem", "256M", "--listen", $"127.0.0.1:{joinPort}", "--relay-port", "0", "--arbiter", arbiter, .. Timeouts]);
            await primary.WaitForLineAsync(l => l.Contains("accepting joining backups") ? l : null, TimeSpan.FromSeconds(60), "accepting joins");

            await RefusedAsync(primary, Start("other-secret", Joiner("other-secret", "--secret", "wrong")), "does not hold the shared secret");
            await RefusedAsync(primary, Start("other-vm", Joiner("other-vm", "--vm-id", "another")), "replicates VM");
            await RefusedAsync(primary, Start("other-machine", Joiner("other-machine", "--cmdline", "other")), "the peer started another machine");
            await RefusedAsync(primary, Start("other-ram", JoinerWith("64M", "other-ram")), "the peer started another machine");

            // A joiner killed in the middle of the copy: the primary serves on and takes the next one.
            var doomed = Start("doomed", Joiner("doomed"));
            await primary.WaitForLineAsync(l => l.Contains(": a backup joins from ") ? l : null, TimeSpan.FromSeconds(60), "a join");
            doomed.Kill();
            await primary.WaitForLineAsync(l => l.Contains("is gone") && l.Contains("serving on alone") ? l : null, TimeSpan.FromSeconds(30), "abandoning the join");

            var joined = Start("joined", Joiner("joined"));
            await joined.WaitForLineAsync(l => l.Contains("joined: joined the primary at ") ? l : null, TimeSpan.FromSeconds(120), "joined");
            await primary.WaitForLineAsync(l => l.Contains(": backup joined from ") ? l : null, TimeSpan.FromSeconds(10), "the join's figures");

            // A second backup while one is attached.
            await RefusedAsync(primary, Start("second", Joiner("second")), "a backup is attached already");
            Assert.False(primary.HasExited);
            Assert.False(joined.HasExited);
            Assert.DoesNotContain(primary.Lines, l => l.Text.Contains("backup lost"));
        }
        finally
        {
            foreach (var c in children) c.Dispose();
            Directory.Delete(arbiter, recursive: true);
        }
    }

    /// <summary>The joiner exits 1 with one line saying it was refused and why; the primary says so in one line too.</summary>
    private static async Task RefusedAsync(ChildProcess primary, ChildProcess joiner, string why)
    {
        int before = primary.Lines.Count(l => l.Text.Contains("refused a joining backup"));
        await joiner.Ended.WaitAsync(TimeSpan.FromSeconds(60));
        var errors = joiner.Lines.Where(l => l.Error).ToList();
        Assert.Equal(1, joiner.ExitCode ?? WaitForExit(joiner));
        var only = Assert.Single(errors);
        Assert.StartsWith("vmft backup: joining the primary at 127.0.0.1:", only.Text);
        Assert.Contains(" refused: ", only.Text);
        Assert.Contains(why, only.Text);
        var clock = Stopwatch.StartNew();
        while (primary.Lines.Count(l => l.Text.Contains("refused a joining backup")) == before && clock.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
        var refusals = primary.Lines.Where(l => l.Text.Contains("refused a joining backup")).Skip(before).ToList();
        Assert.Single(refusals);
        Assert.True(refusals[0].Error);
    }

    private static int WaitForExit(ChildProcess c)
    {
        var clock = Stopwatch.StartNew();
        while (c.ExitCode is null && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(20);
        return c.ExitCode ?? -1;
    }

    private static async Task<ChildProcess> WaitForReplacementAsync(FtProcesses cluster, int index)
    {
        var clock = Stopwatch.StartNew();
        while (cluster.Replacements.Count <= index)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"no replacement backup #{index + 1} was started");
            await Task.Delay(50);
        }
        return cluster.Replacements[index];
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
}
