using System.Diagnostics;
using System.Text;
using VmFt.Hypervisor.Network;
using Xunit;

namespace VmFt.Hypervisor.Tests.Network;

/// <summary>Starting the vmft beside the tests inside a test's namespace.</summary>
internal static class NamespaceVmft
{
    /// <summary>How to start vmft inside <paramref name="ns"/> (its standard streams redirected), optionally behind a wrapper such as setpriv.</summary>
    public static ProcessStartInfo Vmft(this NetworkNamespace ns, IEnumerable<string> args, params string[] wrapper) =>
        ns.StartInfo(Cli.VmftProcess.StartInfo(args), wrapper);
}

/// <summary>A fact that needs a network namespace of its own: skipped, with the one-line reason, where none can be made.</summary>
internal sealed class NamespaceFactAttribute : FactAttribute
{
    public NamespaceFactAttribute()
    {
        if (NetworkNamespace.Unavailable is { } why) Skip = why;
    }

    /// <summary>A program the test runs inside its namespace (found on PATH): without it, the test is skipped with one line saying so.</summary>
    public string? Needs
    {
        get => null;
        set
        {
            if (Skip is null && value is not null && FindProgram(value) is null) Skip = $"needs {value} (apt-get install {value})";
        }
    }

    public static string? FindProgram(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}

/// <summary>
/// A namespace test that boots Linux in real time (several minutes on two cores): it runs when
/// VMFT_SLOW_TESTS=1, so the default suite stays within its time budget; the skip says how.
/// </summary>
internal sealed class SlowNamespaceFactAttribute : FactAttribute
{
    public SlowNamespaceFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("VMFT_SLOW_TESTS") != "1") Skip = "boots Linux in real time (minutes): run with VMFT_SLOW_TESTS=1";
        else if (NetworkNamespace.Unavailable is { } why) Skip = why;
    }
}

/// <summary>A child process's standard output as it arrives, waited on for text (the guest's console).</summary>
internal sealed class ConsoleTranscript
{
    private readonly StringBuilder _text = new();
    private readonly object _lock = new();

    public ConsoleTranscript(Process process)
    {
        // Read as it comes, not by lines: a shell prompt ends without one.
        var reader = process.StandardOutput;
        new Thread(() =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = reader.Read(buffer, 0, buffer.Length)) > 0)
            {
                lock (_lock)
                {
                    _text.Append(buffer, 0, n);
                    Monitor.PulseAll(_lock);
                }
            }
        }) { IsBackground = true }.Start();
    }

    public string Text
    {
        get
        {
            lock (_lock) return _text.ToString();
        }
    }

    /// <summary>Waits until <paramref name="text"/> appears at or after <paramref name="from"/>; returns the offset after it. Fails the test after <paramref name="limit"/>.</summary>
    public int WaitFor(string text, int from, TimeSpan limit)
    {
        var end = DateTime.UtcNow + limit;
        lock (_lock)
        {
            while (true)
            {
                int at = _text.ToString().IndexOf(text, Math.Min(from, _text.Length), StringComparison.Ordinal);
                if (at >= 0) return at + text.Length;
                var left = end - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) Assert.Fail($"'{text}' did not appear within {limit.TotalSeconds:F0} s; the console shows:\n{Tail(_text.ToString())}");
                Monitor.Wait(_lock, left);
            }
        }
    }

    private static string Tail(string s) => s.Length <= 3000 ? s : s[^3000..];
}
