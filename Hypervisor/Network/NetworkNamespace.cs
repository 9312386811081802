using System.Diagnostics;
using System.Runtime.InteropServices;

namespace VmFt.Hypervisor.Network;

/// <summary>
/// A network namespace made for one test or benchmark run (<c>ip netns add vmft-…</c>) and deleted
/// at its end, with everything in it: TAP interfaces, their addresses, the programs run through
/// <c>ip netns exec</c>, and the sockets made by <see cref="Inside{T}"/>. Nothing is ever configured
/// in the machine's own namespace.
/// </summary>
public sealed partial class NetworkNamespace : IDisposable
{
    private static readonly string Ip = File.Exists("/usr/sbin/ip") ? "/usr/sbin/ip" : File.Exists("/sbin/ip") ? "/sbin/ip" : "ip";
    private const int ORdOnly = 0, OCloExec = 0x80000, CloneNewNet = 0x40000000;
    private const int ENoEnt = 2, EPerm = 1;

    /// <summary>Why namespaces cannot be made here (one line), or null.</summary>
    public static string? Unavailable { get; } =
        !OperatingSystem.IsLinux() ? "network namespaces exist only on Linux"
        : !Environment.IsPrivilegedProcess ? "needs root to make a network namespace (ip netns add, CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root to include it"
        : !File.Exists(Ip) ? "needs iproute2's ip to make a network namespace"
        : !File.Exists("/dev/net/tun") ? "needs /dev/net/tun for a TAP device"
        : null;

    public string Name { get; }

    /// <param name="prefix">The start of the name (the rest is this process and a random number, so runs side by side never meet).</param>
    public NetworkNamespace(string prefix = "vmft-t-")
    {
        Name = $"{prefix}{Environment.ProcessId:x}{Random.Shared.Next(0x10000):x4}";
        Check(Run(Ip, "netns", "add", Name), "ip netns add");
        try
        {
            Check(Run(Ip, "-n", Name, "link", "set", "lo", "up"), "ip link set lo up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// A persistent TAP interface in the namespace, up, with <paramref name="address"/> (ADDR/LEN)
    /// on it. Without an address, IPv6 is off on it too, so that the kernel sends nothing on it of
    /// its own (no neighbour discovery, no multicast reports): every frame on it is a client's or the guest's.
    /// </summary>
    public void AddTap(string name, string? address = null)
    {
        Check(Run(Ip, "-n", Name, "tuntap", "add", "dev", name, "mode", "tap"), "ip tuntap add");
        if (address is not null) Check(Run(Ip, "-n", Name, "addr", "add", address, "dev", name), "ip addr add");
        else Check(Exec("sysctl", "-qw", $"net.ipv6.conf.{name}.disable_ipv6=1"), "sysctl disable_ipv6");
        Check(Run(Ip, "-n", Name, "link", "set", name, "up"), "ip link set up");
    }

    public bool HasInterface(string name) => Run(Ip, "-n", Name, "link", "show", name).Code == 0;

    /// <summary>Runs a program inside the namespace: its exit code and both output streams.</summary>
    public (int Code, string Output) Exec(params string[] command) => Run(Ip, ["netns", "exec", Name, .. command]);

    /// <summary>How to start <paramref name="inner"/> inside the namespace (its standard streams redirected), optionally behind a wrapper such as setpriv.</summary>
    public ProcessStartInfo StartInfo(ProcessStartInfo inner, params string[] wrapper)
    {
        var info = new ProcessStartInfo(Ip)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // ip netns exec execs the program in its own place: the process started is the program (a kill reaches it).
        foreach (var a in (string[])["netns", "exec", Name, .. wrapper, inner.FileName, .. inner.ArgumentList]) info.ArgumentList.Add(a);
        return info;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a thread of its own that has entered network namespace
    /// <paramref name="netns"/> (a name under /run/netns, as <c>ip netns</c> keeps them, or a path such
    /// as /proc/PID/ns/net). A socket or TAP opened there belongs to that namespace for good, and can
    /// be used from any thread afterwards; the rest of the process stays where it is. The thread ends
    /// with the action. Needs CAP_SYS_ADMIN.
    /// </summary>
    /// <param name="what">The start of an error message.</param>
    /// <exception cref="NetworkBackendException">No such namespace, or it cannot be entered.</exception>
    public static T Inside<T>(string netns, string what, Func<T> action)
    {
        string path = netns.StartsWith('/') ? netns : Path.Combine("/run/netns", netns);
        if (!netns.StartsWith('/') && (netns.Length == 0 || netns.Contains('/') || netns is "." or ".."))
            throw new NetworkBackendException($"{what}: '{netns}' is not a network namespace name");
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                int fd = OpenFile(path, ORdOnly | OCloExec);
                if (fd < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    throw new NetworkBackendException(errno == ENoEnt
                        ? $"{what}: there is no network namespace {netns} ({path}; ip netns add makes one)"
                        : $"{what}: cannot open network namespace {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                try
                {
                    if (SetNamespace(fd, CloneNewNet) < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        throw new NetworkBackendException(errno == EPerm
                            ? $"{what}: cannot enter network namespace {netns}: operation not permitted (needs CAP_SYS_ADMIN: run as root)"
                            : $"{what}: cannot enter network namespace {netns}: {Marshal.GetPInvokeErrorMessage(errno)}");
                    }
                }
                finally
                {
                    CloseFile(fd);
                }
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }) { IsBackground = true, Name = $"netns {netns}" };
        thread.Start();
        thread.Join();
        if (failure is not null) throw failure is NetworkBackendException ? failure : new AggregateException(failure);
        return result!;
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
        if (result.Code != 0) throw new InvalidOperationException($"{what}: exit {result.Code}: {result.Output.Trim()}");
    }

    public void Dispose() => Run(Ip, "netns", "delete", Name);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenFile(string path, int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNamespace(int fd, int type);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseFile(int fd);
}
