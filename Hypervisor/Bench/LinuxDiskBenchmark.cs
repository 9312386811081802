using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using VmFt.Hypervisor.Bench.Faults;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// <c>vmft bench disk</c>: the Linux guest's disk measured from inside, with busybox's dd
/// (<see cref="DiskWorkload"/>), on three machines in one run: VmFt alone (<c>vmft run</c>, real
/// time), VmFt under FT (backup, primary and relay as processes on loopback, the disk shared, so
/// reads travel in the log and writes wait for the backup), and QEMU's TCG with the same kernel,
/// initrd and a disk of the same size as <c>-drive if=virtio,format=raw</c>. Under FT also: the
/// logging rate while the guest reads sequentially, and the go-live time with I/O in flight (the
/// primary killed in a loop that reads, writes and flushes and prints after each, while a write
/// waits for the backup's acknowledgement).
/// Both VmFt runs start at the shell from one boot recorded in virtual time with the disk attached
/// (each then on a copy of that disk, as it was after the boot), and QEMU boots on another copy.
/// </summary>
public static partial class LinuxDiskBenchmark
{
    public sealed record Settings(int DiskMiB, int SequentialMiB, int RandomIos, TimeSpan Timeout, bool WithQemu)
    {
        /// <summary>The FT nodes' failure detector: silence after which the peer is dead (vmft's default), and the heartbeat (a fifth of it).</summary>
        public int FailureTimeoutMs { get; init; } = 500;
        public int HeartbeatMs => Math.Max(10, FailureTimeoutMs / 5);
        /// <summary>Iterations of the loop the primary is killed in, and after which tick.</summary>
        public int TickingIos { get; init; } = 80;
        public int KillAfterTicks { get; init; } = 20;
        public long Blocks => (long)DiskMiB * 1048576 / DiskWorkload.BlockBytes;
    }

    /// <summary>One machine's figures: MB/s (10^6 bytes) and operations per second.</summary>
    public sealed record Row(double WriteMBps, double ReadMBps, double RandomReadIops, double RandomWriteIops, double NoDiskPerSecond)
    {
        /// <summary>The sequential read's seconds by the guest's clock.</summary>
        public double ReadSeconds { get; init; }
    }

    /// <summary>The failover in the I/O loop; <paramref name="InFlight"/>: the requests the new primary performed again (0 when none was in flight).</summary>
    public sealed record GoLive(double KillToLiveMs, double KillToOutputMs, double LongestSilenceMs, string LiveLine, int InFlight, int InFlightWrites);

    public sealed record Figures(Row Solo, Row Ft, Row? Qemu, string? QemuProblem, long ReadLogBytes, double ReadSeconds, GoLive? Failover, string? FailoverProblem)
    {
        /// <summary>The log's rate while the guest read sequentially: its bytes over the read's time.</summary>
        public double ReadLogMbit => ReadLogBytes * 8 / 1e6 / Math.Max(ReadSeconds, 0.01);
    }

    /// <summary>The kernel command line of every run: the kernel's own messages stay off the console, which is the measurements' channel.</summary>
    public const string CommandLine = LinuxFailoverDemo.CommandLine;

    public static Figures Run(LinuxGuestImage image, Settings settings, Action<string> say, Func<IEnumerable<string>, ProcessStartInfo>? startInfo = null)
    {
        string folder = Directory.CreateTempSubdirectory("vmft-bench-disk-").FullName;
        try
        {
            string boot = Path.Combine(folder, "boot.vmrec");
            string bootDisk = MakeDisk(folder, "boot.img", settings.DiskMiB);
            say($"booting to '{LinuxGuestImage.Marker}' in virtual time with a {settings.DiskMiB} MiB disk, recorded (both VmFt runs resume it)");
            ulong booted = LinuxFailoverDemo.RecordBoot(image, boot, bootDisk);
            say($"booted: {booted:N0} instructions");

            Row solo;
            using (var run = new FtProcesses { StartInfo = startInfo ?? FtProcesses.SelfStartInfo })
            {
                say("solo: the guest alone in real time (vmft run --from-recording), its console on TCP");
                string address = run.StartSoloAsync(["--from-recording", boot, "--disk", CopyOf(bootDisk, "solo.img")], TimeSpan.FromSeconds(120)).GetAwaiter().GetResult();
                using var shell = PromptedShell.Connect(address);
                shell.WaitForPrompt(settings.Timeout, marker: false);
                solo = Measure(shell, settings, "solo", say);
            }

            var (ft, readLogBytes, failover, failoverProblem) = RunFt(boot, CopyOf(bootDisk, "ft.img"), settings, say, startInfo);

            Row? qemu = null;
            string? qemuProblem = settings.WithQemu ? null : "not asked for (--no-qemu)";
            if (settings.WithQemu)
            {
                try
                {
                    qemu = RunQemu(image, CopyOf(bootDisk, "qemu.img"), settings, say, out qemuProblem);
                }
                catch (InvalidOperationException e)
                {
                    qemuProblem = e.Message;
                }
            }
            return new Figures(solo, ft, qemu, qemuProblem, readLogBytes, ft.ReadSeconds, failover, failoverProblem);
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static (Row Row, long ReadLogBytes, GoLive? Failover, string? Problem) RunFt(string boot, string disk, Settings settings, Action<string> say,
        Func<IEnumerable<string>, ProcessStartInfo>? startInfo)
    {
        var clock = Stopwatch.StartNew();
        double Now() => clock.Elapsed.TotalMilliseconds;
        var stats = new List<StatsSample>();
        var lines = new List<ChildLine>();
        using var cluster = new FtProcesses
        {
            StartInfo = startInfo ?? FtProcesses.SelfStartInfo,
            Clock = Now,
            PrimaryArgs = ["--stats-ms", "250"],
            Line = l =>
            {
                if (StatsSample.TryParse(l.Ms, l.Text) is { } s) lock (stats) stats.Add(s);
                else lock (lines) lines.Add(l);
            },
        };
        say($"ft: backup, primary and relay as processes (heartbeat {settings.HeartbeatMs} ms, failure after {settings.FailureTimeoutMs} ms of silence), the disk shared; the client on the relay");
        string relay = cluster.StartAsync(["--from-recording", boot, "--disk", disk],
            ["--heartbeat-ms", settings.HeartbeatMs.ToString(CultureInfo.InvariantCulture), "--timeout-ms", settings.FailureTimeoutMs.ToString(CultureInfo.InvariantCulture)],
            TimeSpan.FromSeconds(120)).GetAwaiter().GetResult();
        using var shell = PromptedShell.Connect(relay, Now);
        shell.WaitForPrompt(settings.Timeout, marker: false);

        // The first sample after a moment: every byte logged until then is in it.
        StatsSample After(double ms)
        {
            var until = clock.Elapsed + TimeSpan.FromSeconds(10);
            while (clock.Elapsed < until)
            {
                lock (stats) if (stats.Count > 0 && stats[^1].Ms > ms) return stats.First(s => s.Ms > ms);
                Thread.Sleep(50);
            }
            throw new InvalidOperationException("the primary printed no 'ft stats:' line");
        }
        StatsSample? before = null, after = null;
        var row = Measure(shell, settings, "ft", say,
            beforeRead: () =>
            {
                // The last sample before the read begins: what it counts was logged before it.
                double now = Now();
                lock (stats) before = stats.LastOrDefault(s => s.Ms <= now);
                if (before is null) throw new InvalidOperationException("the primary printed no 'ft stats:' line before the read");
            },
            afterRead: () => after = After(Now()));
        long readLogBytes = after!.LogBytes - before!.LogBytes;

        // The go-live with I/O in flight: a loop that reads, writes and flushes a block and prints, the primary killed in it.
        string? problem = null;
        GoLive? failover = null;
        try
        {
            shell.Type(DiskWorkload.Ticking(settings.TickingIos, settings.Blocks));
            shell.WaitFor($"\n{DiskWorkload.Tick}{settings.KillAfterTicks}\r", settings.Timeout);
            if (cluster.Backup!.HasExited) throw new InvalidOperationException("the backup ended before the kill: no failover to measure");
            // I/O in flight on purpose: the backup stands still (SIGSTOP) for a heartbeat, shorter than the
            // failure timeout, so no acknowledgement comes and the loop's next write waits at the primary
            // under the output rule; the primary is killed then, and the backup continued once it is gone.
            // The new primary finds that write started and not completed and performs it again.
            UnixSignals.Stop(cluster.Backup.Id);
            double killed;
            try
            {
                Thread.Sleep(settings.HeartbeatMs);
                killed = Now();
                cluster.Primary!.Kill();
                cluster.Primary.Ended.Wait(TimeSpan.FromSeconds(10));
            }
            finally
            {
                UnixSignals.Continue(cluster.Backup.Id);
            }
            say($"ft: primary killed at '{DiskWorkload.Tick}{settings.KillAfterTicks}' of {settings.TickingIos}, the backup stopped for the {settings.HeartbeatMs} ms before it (its acknowledgements held back, so a write waited)");
            double silence = shell.LongestSilenceUntil(DiskWorkload.Result, settings.Timeout, out string printed);
            var loop = DiskWorkload.Parse(printed + shell.WaitFor(Serial.ShellDialogue.BusyboxPrompt, settings.Timeout));
            if (loop.Failures > 0) throw new InvalidOperationException($"{loop.Failures} dd runs failed in the guest in the loop across the failover");
            ChildLine? live;
            lock (lines) live = lines.FirstOrDefault(l => l.Child == "backup" && l.Text.Contains(": live as generation ", StringComparison.Ordinal));
            if (live is null) throw new InvalidOperationException("the backup printed no go-live line");
            double first = shell.FirstArrivalAfter(live.Ms) ?? throw new InvalidOperationException("no output after the go-live");
            Match? reissued;
            lock (lines) reissued = lines.Where(l => l.Child == "backup").Select(l => InFlightLine().Match(l.Text)).FirstOrDefault(m => m.Success);
            int inFlight = reissued is null ? 0 : int.Parse(reissued.Groups[1].Value, CultureInfo.InvariantCulture);
            int writes = reissued is null ? 0 : int.Parse(reissued.Groups[2].Value, CultureInfo.InvariantCulture);
            failover = new GoLive(live.Ms - killed, first - killed, silence, live.Text, inFlight, writes);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            problem = e.Message;
        }
        return (row, readLogBytes, failover, problem);
    }

    /// <summary>QEMU's figures, or null and the problem (not installed).</summary>
    private static Row? RunQemu(LinuxGuestImage image, string disk, Settings settings, Action<string> say, out string? problem)
    {
        problem = null;
        var process = LinuxBenchmark.StartQemu(image, CommandLine, LinuxFailoverDemo.RamSize, ["-drive", $"file={disk},if=virtio,format=raw"]);
        if (process is null)
        {
            problem = LinuxBenchmark.QemuMissing;
            return null;
        }
        say("qemu: qemu-system-i386 (TCG) booting the same kernel and initrd, -drive if=virtio,format=raw on a disk of the same size");
        _ = process.StandardError.ReadToEndAsync();
        using var shell = new PromptedShell(process.StandardOutput.BaseStream, process.StandardInput.BaseStream, new KillOnDispose(process));
        double seconds = shell.WaitForPrompt(settings.Timeout);
        say($"qemu: shell prompt after {seconds:F1} s");
        return Measure(shell, settings, "qemu", say);
    }

    /// <summary>The measurements of <see cref="DiskWorkload"/> at a shell prompt, one after the other.</summary>
    private static Row Measure(PromptedShell shell, Settings s, string who, Action<string> say, Action? beforeRead = null, Action? afterRead = null)
    {
        DiskWorkload.Measurement Step(string what, string command)
        {
            double wall = shell.Run(command, DiskWorkload.Result, s.Timeout, out string printed);
            DiskWorkload.Measurement m;
            try
            {
                m = DiskWorkload.Parse(printed);
            }
            catch (FormatException e)
            {
                throw new InvalidOperationException($"{who}, {what}: {e.Message}");
            }
            say($"{who}: {what}: {m.Seconds:F2} s by the guest's clock ({wall:F2} s at the client)");
            return m;
        }
        shell.Run("dmesg -n 1; echo @@$((6*7)) 0 0 0", DiskWorkload.Result, s.Timeout);
        double write = DiskWorkload.MegabytesPerSecond(Step($"sequential write of {s.SequentialMiB} MiB", DiskWorkload.SequentialWrite(s.SequentialMiB)), s.SequentialMiB, $"{who}, sequential write");
        beforeRead?.Invoke();
        var readStep = Step($"sequential read of {s.SequentialMiB} MiB", DiskWorkload.SequentialRead(s.SequentialMiB));
        double read = DiskWorkload.MegabytesPerSecond(readStep, s.SequentialMiB, $"{who}, sequential read");
        afterRead?.Invoke();
        double randomRead = DiskWorkload.PerSecond(Step($"{s.RandomIos} random 4 KiB reads", DiskWorkload.RandomRead(s.RandomIos, s.Blocks)), s.RandomIos, $"{who}, random reads");
        double randomWrite = DiskWorkload.PerSecond(Step($"{s.RandomIos} random 4 KiB writes", DiskWorkload.RandomWrite(s.RandomIos, s.Blocks)), s.RandomIos, $"{who}, random writes");
        double noDisk = DiskWorkload.PerSecond(Step($"{s.RandomIos} dd runs without the disk", DiskWorkload.NoDisk(s.RandomIos)), s.RandomIos, $"{who}, dd without the disk");
        return new Row(write, read, randomRead, randomWrite, noDisk) { ReadSeconds = readStep.Seconds };
    }

    private static string CopyOf(string disk, string name)
    {
        string path = Path.Combine(Path.GetDirectoryName(disk)!, name);
        File.Copy(disk, path);
        return path;
    }

    /// <summary>A raw disk of zeros (sparse) of <paramref name="mib"/> MiB.</summary>
    private static string MakeDisk(string folder, string name, int mib)
    {
        string path = Path.Combine(folder, name);
        using (var f = File.Create(path)) f.SetLength((long)mib << 20);
        return path;
    }

    // The backup's line before it goes live (BackupLog.Reissuing).
    [GeneratedRegex(@": (\d+) disk requests in flight at go-live \((\d+) of them writes or flushes\)")]
    private static partial Regex InFlightLine();

    /// <summary>Ends QEMU with the shell that talks to it.</summary>
    private sealed class KillOnDispose(Process process) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            process.WaitForExit();
            process.Dispose();
        }
    }
}
