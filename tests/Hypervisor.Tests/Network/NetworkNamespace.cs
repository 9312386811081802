using System.Diagnostics;
using System.Text;
using Xunit;

namespace VmFt.Hypervisor.Tests.Network;

/// <summary>
/// A network namespace a test makes for itself (<c>ip netns add vmft-t-…</c>) and deletes at the
/// end, with everything in it: TAP interfaces, their addresses, the vmft that opens them (run
/// through <c>ip netns exec</c>, so its TAP is made there) and the clients. Nothing is ever
/// configured in the machine's own namespace.
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    private static readonly string Ip = File.Exists("/usr/sbin/ip") ? "/usr/sbin/ip" : File.Exists("/sbin/ip") ? "/sbin/ip" : "ip";

    /// <summary>Why namespaces cannot be made here (one line), or null.</summary>
    public static string? Unavailable { get; } =
        !OperatingSystem.IsLinux() ? "network namespaces exist only on Linux"
        : !Environment.IsPrivilegedProcess ? "needs root to make a network namespace (ip netns add); run the tests as root to include it"
        : !File.Exists(Ip) ? "needs iproute2's ip to make a network namespace"
        : !File.Exists("/dev/net/tun") ? "needs /dev/net/tun for a TAP device"
        : null;

    public string Name { get; } = $"vmft-t-{Environment.ProcessId:x}{Random.Shared.Next(0x10000):x4}";

    public NetworkNamespace()
    {
        Check(Run(Ip, "netns", "add", Name), "ip netns add");
        Check(Run(Ip, "-n", Name, "link", "set", "lo", "up"), "ip link set lo up");
    }

    /// <summary>A persistent TAP interface in the namespace, up, with <paramref name="address"/> (ADDR/LEN) on it.</summary>
    public void AddTap(string name, string address)
    {
        Check(Run(Ip, "-n", Name, "tuntap", "add", "dev", name, "mode", "tap"), "ip tuntap add");
        Check(Run(Ip, "-n", Name, "addr", "add", address, "dev", name), "ip addr add");
        Check(Run(Ip, "-n", Name, "link", "set", name, "up"), "ip link set up");
    }

    public bool HasInterface(string name) => Run(Ip, "-n", Name, "link", "show", name).Code == 0;

    /// <summary>Runs a program inside the namespace: its exit code and both output streams.</summary>
    public (int Code, string Output) Exec(params string[] command) => Run(Ip, ["netns", "exec", Name, .. command]);

    /// <summary>How to start vmft inside the namespace (its standard streams redirected), optionally behind a wrapper such as setpriv.</summary>
    public ProcessStartInfo Vmft(IEnumerable<string> args, params string[] wrapper)
    {
        var inner = Cli.VmftProcess.StartInfo(args);
        var info = new ProcessStartInfo(Ip)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["netns", "exec", Name, .. wrapper, inner.FileName, .. inner.ArgumentList]) info.ArgumentList.Add(a);
        return info;
    }

    public static (int Code, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }

    private static void Check((int Code, string Output) result, string what)
    {
        if (result.Code != 0) Assert.Fail($"{what}: exit {result.Code}: {result.Output}");
    }

    public void Dispose() => Run(Ip, "netns", "delete", Name);
}

/// <summary>A fact that needs a network namespace of its own: skipped, with the one-line reason, where none can be made.</summary>
internal sealed class NamespaceFactAttribute : FactAttribute
{
    public NamespaceFactAttribute()
    {
        if (NetworkNamespace.Unavailable is { } why) Skip = why;
    }
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
