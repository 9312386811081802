using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using VmFt.Hypervisor.Bench.Faults;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Serial;

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

    /// <summary>A client at the guest's shell over TCP: waits for prompts, types commands, times them.</summary>
    private sealed class PromptedShell : IDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;
        private readonly StringBuilder _seen = new();
        private readonly byte[] _buffer = new byte[16384];
        private int _from;

        private PromptedShell(TcpClient client)
        {
            _client = client;
            _stream = client.GetStream();
            _stream.ReadTimeout = 100;
        }

        public static PromptedShell Connect(string address)
        {
            var c = new TcpClient();
            c.Connect(IPEndPoint.Parse(address));
            return new PromptedShell(c);
        }

        /// <summary>Reads what arrives within the read timeout; false when nothing did.</summary>
        private bool Pump()
        {
            try
            {
                int n = _stream.Read(_buffer, 0, _buffer.Length);
                if (n == 0) throw new InvalidOperationException("the guest's console closed");
                foreach (byte b in _buffer.AsSpan(0, n)) _seen.Append((char)b);
                return true;
            }
            catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut })
            {
                return false;
            }
        }

        public void WaitFor(string text, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                int at = _seen.ToString(_from, _seen.Length - _from).IndexOf(text, StringComparison.Ordinal);
                if (at >= 0)
                {
                    _from += at + text.Length;
                    return;
                }
                if (clock.Elapsed > timeout) throw new InvalidOperationException($"no '{text.Trim()}' from the guest within {timeout.TotalSeconds:F0} s");
                Pump();
            }
        }

        /// <summary>Seconds until the marker and the first prompt after it.</summary>
        public double WaitForPrompt(TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            WaitFor(LinuxGuestImage.Marker, timeout);
            WaitFor(ShellDialogue.BusyboxPrompt, timeout);
            return clock.Elapsed.TotalSeconds;
        }

        public void Type(string command) => _stream.Write(Encoding.ASCII.GetBytes(command + "\n"));

        /// <summary>Types the command and returns the seconds until <paramref name="done"/> and the next prompt.</summary>
        public double Run(string command, string done, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            Type(command);
            WaitFor("\n" + done, timeout);
            double seconds = clock.Elapsed.TotalSeconds;
            WaitFor(ShellDialogue.BusyboxPrompt, timeout);
            return seconds;
        }

        /// <summary>The longest time without a byte from the guest until <paramref name="done"/>, in ms.</summary>
        public double LongestSilenceUntil(string done, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            double last = 0, longest = 0;
            while (_seen.ToString(_from, _seen.Length - _from).IndexOf("\n" + done, StringComparison.Ordinal) < 0)
            {
                if (clock.Elapsed > timeout) throw new InvalidOperationException($"no '{done}' from the guest within {timeout.TotalSeconds:F0} s");
                if (Pump())
                {
                    double now = clock.Elapsed.TotalMilliseconds;
                    longest = Math.Max(longest, now - last);
                    last = now;
                }
            }
            return longest;
        }

        public void Dispose() => _client.Dispose();
    }
}
