using System.Diagnostics;
using VmFt.Hypervisor.Bench.Faults;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// <c>vmft bench linux --ft</c>: the Linux guest in real time alone and under FT (real processes on
/// loopback), one after the other in one run: boot to the shell, the logging rate of an idle
/// shell, a CPU-bound shell loop timed by the client (FT/solo), the backup's lag, and the longest
/// silence the client sees when the primary is killed while a loop prints.
/// </summary>
public static class LinuxFtBenchmark
{
    public sealed record Figures(
        double SoloBootSeconds, double SoloLoopSeconds,
        double FtBootSeconds, double FtLoopSeconds,
        double IdleGuestSeconds, long IdleLogBytes,
        double MaxLagMs, double LoopLagMs,
        double FailoverGapMs, string? FailoverLine)
    {
        public double IdleMbit => IdleGuestSeconds > 0 ? IdleLogBytes * 8 / 1e6 / IdleGuestSeconds : 0;
        public double LoopRatio => FtLoopSeconds / Math.Max(SoloLoopSeconds, 1e-9);
    }

    public static string Loop(int iterations) => $"i=0; while [ $i -lt {iterations} ]; do i=$((i+1)); done; echo loop done $i";

    public static Figures Run(LinuxGuestImage image, int loopIterations, TimeSpan idle, TimeSpan timeout, Action<string> say,
        Func<IEnumerable<string>, ProcessStartInfo>? startInfo = null)
    {
        string[] machine = LinuxFailoverDemo.MachineArgs(image);
        double soloBoot, soloLoop;
        using (var solo = new FtProcesses { StartInfo = startInfo ?? FtProcesses.SelfStartInfo })
        {
            say("solo: the guest alone in real time (vmft run), its console on TCP");
            string address = solo.StartSoloAsync(machine, TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
            using var shell = PromptedShell.Connect(address);
            soloBoot = shell.WaitForPrompt(timeout);
            say($"solo: shell prompt after {soloBoot:F1} s");
            // As long at the prompt as the FT run will be before its loop: right after the boot the
            // kernel still has work of its own, which would slow whichever loop ran first.
            Thread.Sleep(idle);
            soloLoop = shell.Run(Loop(loopIterations), "loop done", timeout);
            say($"solo: a loop of {loopIterations} iterations took {soloLoop:F2} s");
        }

        var stats = new List<StatsSample>();
        var lines = new List<string>();
        var clock = Stopwatch.StartNew();
        using var ft = new FtProcesses
        {
            StartInfo = startInfo ?? FtProcesses.SelfStartInfo,
            PrimaryArgs = ["--stats-ms", "500"],
            Line = l =>
            {
                if (StatsSample.TryParse(clock.Elapsed.TotalMilliseconds, l.Text) is { } s) lock (stats) stats.Add(s);
                else lock (lines) lines.Add($"[{l.Child}] {l.Text}");
            },
        };
        say("ft: backup, primary and relay as processes; the client on the relay");
        string relay = ft.StartAsync(machine, [], TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        using var client = PromptedShell.Connect(relay);
        double ftBoot = client.WaitForPrompt(timeout);
        say($"ft: shell prompt after {ftBoot:F1} s");

        StatsSample Latest()
        {
            var until = clock.Elapsed + TimeSpan.FromSeconds(5);
            while (clock.Elapsed < until)
            {
                lock (stats) if (stats.Count > 0) return stats[^1];
                Thread.Sleep(50);
            }
            throw new InvalidOperationException("the primary printed no 'ft stats:' line");
        }
        var before = Latest();
        Thread.Sleep(idle);
        var after = Latest();
        double idleGuest = after.GuestSeconds - before.GuestSeconds;
        long idleBytes = after.LogBytes - before.LogBytes;
        say($"ft: idle shell for {idleGuest:F1} guest s: {idleBytes} log bytes");

        double ftLoop = client.Run(Loop(loopIterations), "loop done", timeout);
        var loopStats = Latest();
        say($"ft: the same loop took {ftLoop:F2} s");

        // A loop that prints, the primary killed in it: the longest silence the client sees.
        client.Type($"i=0; while [ $i -lt {loopIterations} ]; do i=$((i+1)); echo tick $i; done; echo ticks done");
        client.WaitFor("tick 100\r\n", timeout);
        ft.Primary!.Kill();
        double gap = client.LongestSilenceUntil("ticks done", timeout);
        Thread.Sleep(300);
        string? live;
        lock (lines) live = lines.FirstOrDefault(l => l.Contains(": live as generation", StringComparison.Ordinal));
        say($"ft: primary killed mid-loop; the longest silence at the client {gap:F0} ms");
        return new Figures(soloBoot, soloLoop, ftBoot, ftLoop, idleGuest, idleBytes, after.MaxLagMs, loopStats.RecentMaxLagMs, gap, live);
    }
}
