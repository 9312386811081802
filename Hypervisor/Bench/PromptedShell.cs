using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using VmFt.Hypervisor.Serial;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// A client at the Linux guest's shell over a byte stream (a relay's client port, a <c>--serial tcp:</c>
/// console, QEMU's standard streams): waits for text, types commands, times them. A thread reads
/// what the guest prints as it comes and notes when each piece arrived, so silences and the first
/// byte after a moment (a kill) are measured where the bytes arrive, not where they are looked at.
/// </summary>
internal sealed class PromptedShell : IDisposable
{
    private readonly Stream _guestOutput;
    private readonly Stream _guestInput;
    private readonly IDisposable? _owner;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Func<double> _now;
    private readonly object _lock = new(); // a Monitor: readers wait on it for what the guest prints
    private readonly StringBuilder _seen = new();
    private readonly List<double> _arrivals = [];
    private bool _closed;
    private int _from;

    /// <param name="guestOutput">What the guest prints.</param>
    /// <param name="guestInput">Where typing goes.</param>
    /// <param name="owner">Disposed with this shell (the socket, say).</param>
    /// <param name="clock">The milliseconds <see cref="Now"/> and the arrival times are on (default: since this shell was made), so they compare with a cluster's line times.</param>
    public PromptedShell(Stream guestOutput, Stream guestInput, IDisposable? owner = null, Func<double>? clock = null)
    {
        (_guestOutput, _guestInput, _owner) = (guestOutput, guestInput, owner);
        _now = clock ?? (() => _clock.Elapsed.TotalMilliseconds);
        new Thread(Read) { IsBackground = true, Name = "guest console reader" }.Start();
    }

    public static PromptedShell Connect(string address, Func<double>? clock = null)
    {
        var c = new TcpClient();
        c.Connect(IPEndPoint.Parse(address));
        var stream = c.GetStream();
        return new PromptedShell(stream, stream, c, clock);
    }

    /// <summary>Milliseconds on this shell's clock.</summary>
    public double Now => _now();

    private void Read()
    {
        var buffer = new byte[16384];
        try
        {
            int n;
            while ((n = _guestOutput.Read(buffer, 0, buffer.Length)) > 0)
            {
                double now = Now;
                lock (_lock)
                {
                    foreach (byte b in buffer.AsSpan(0, n)) _seen.Append((char)b);
                    _arrivals.Add(now);
                    Monitor.PulseAll(_lock);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        lock (_lock)
        {
            _closed = true;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// Waits until the guest has printed <paramref name="text"/> after what the previous wait
    /// matched; returns what it printed from there up to the end of the match.
    /// </summary>
    public string WaitFor(string text, TimeSpan timeout)
    {
        var until = _clock.Elapsed + timeout;
        lock (_lock)
        {
            while (true)
            {
                int at = _seen.ToString(_from, _seen.Length - _from).IndexOf(text, StringComparison.Ordinal);
                if (at >= 0)
                {
                    string between = _seen.ToString(_from, at + text.Length);
                    _from += at + text.Length;
                    return between;
                }
                if (_closed) throw new InvalidOperationException($"the guest's console closed before '{text.Trim()}'");
                var left = until - _clock.Elapsed;
                if (left <= TimeSpan.Zero) throw new InvalidOperationException($"no '{text.Trim()}' from the guest within {timeout.TotalSeconds:F0} s");
                Monitor.Wait(_lock, left);
            }
        }
    }

    /// <summary>Seconds until the marker (unless the guest is past it, resumed from a boot recording) and the first prompt after it.</summary>
    public double WaitForPrompt(TimeSpan timeout, bool marker = true)
    {
        var clock = Stopwatch.StartNew();
        if (marker) WaitFor(LinuxGuestImage.Marker, timeout);
        WaitFor(ShellDialogue.BusyboxPrompt, timeout);
        return clock.Elapsed.TotalSeconds;
    }

    public void Type(string command)
    {
        _guestInput.Write(Encoding.ASCII.GetBytes(command + "\n"));
        _guestInput.Flush();
    }

    /// <summary>Types the command and returns the seconds until <paramref name="done"/> starts a line, and the next prompt.</summary>
    public double Run(string command, string done, TimeSpan timeout) => Run(command, done, timeout, out _);

    /// <summary>As <see cref="Run(string, string, TimeSpan)"/>, and what the guest printed up to the end of <paramref name="done"/> (the echo of the command included).</summary>
    public double Run(string command, string done, TimeSpan timeout, out string printed)
    {
        var clock = Stopwatch.StartNew();
        Type(command);
        printed = WaitFor("\n" + done, timeout);
        double seconds = clock.Elapsed.TotalSeconds;
        printed += WaitFor(ShellDialogue.BusyboxPrompt, timeout);
        return seconds;
    }

    /// <summary>The longest time without a byte from the guest until <paramref name="done"/> starts a line, in ms.</summary>
    public double LongestSilenceUntil(string done, TimeSpan timeout) => LongestSilenceUntil(done, timeout, out _);

    /// <summary>As <see cref="LongestSilenceUntil(string, TimeSpan)"/>, and what the guest printed up to the end of <paramref name="done"/>.</summary>
    public double LongestSilenceUntil(string done, TimeSpan timeout, out string printed)
    {
        double start = Now;
        printed = WaitFor("\n" + done, timeout);
        double end = Now, last = start, longest = 0;
        lock (_lock)
            foreach (double t in _arrivals)
                if (t > start && t <= end)
                {
                    longest = Math.Max(longest, t - last);
                    last = t;
                }
        return longest;
    }

    /// <summary>When the first byte after <paramref name="ms"/> (this shell's clock) arrived; null if none has yet.</summary>
    public double? FirstArrivalAfter(double ms)
    {
        lock (_lock)
            foreach (double t in _arrivals)
                if (t > ms) return t;
        return null;
    }

    public void Dispose()
    {
        _owner?.Dispose();
        if (_owner is null)
        {
            _guestInput.Dispose();
            _guestOutput.Dispose();
        }
    }
}
