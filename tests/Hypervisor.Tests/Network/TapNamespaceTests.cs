using System.Diagnostics;
using VmFt.Hypervisor.Network;
using Xunit;

namespace VmFt.Hypervisor.Tests.Network;

/// <summary>
/// A TAP that cannot be opened is one line and exit 2, and nothing else breaks: checked inside a
/// namespace of the test's own (the bundled kvstore guest is enough: the card needs no driver).
/// </summary>
public sealed class TapNamespaceTests
{
    [NamespaceFact]
    public void ATapNameAnotherProcessHoldsIsInUse()
    {
        using var ns = new NetworkNamespace();
        using var first = Process.Start(ns.Vmft(["run", "kvstore", "--clock", "virtual", "--serial", "stdio,line", "--net", "tap,ifname=vt0"]))!;
        try
        {
            var stderr = first.StandardError.ReadLineAsync();
            // The interface exists once the first vmft has attached it (bounded wait, not a timing assert).
            for (int i = 0; i < 600 && !ns.HasInterface("vt0") && !first.HasExited; i++) Thread.Sleep(100);
            Assert.True(ns.HasInterface("vt0"), $"the first vmft made no vt0 (exited: {first.HasExited})");
            using var second = Process.Start(ns.Vmft(["run", "kvstore", "--clock", "virtual", "--net", "tap,ifname=vt0"]))!;
            string output = second.StandardOutput.ReadToEnd(), errors = second.StandardError.ReadToEnd();
            second.WaitForExit();
            Assert.True(second.ExitCode == 2, $"exit {second.ExitCode}: {output}{errors}");
            Assert.Contains("TAP device vt0: the name is in use", errors);
            Assert.Single(errors.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.False(first.HasExited, "the first vmft ended when the second one failed");
        }
        finally
        {
            first.Kill();
            first.WaitForExit();
        }
        Assert.False(ns.HasInterface("vt0"));   // not persistent: gone with the process that made it
    }

    [NamespaceFact]
    public void WithoutCapNetAdminTheTapCannotBeMadeAndNoInterfaceAppears()
    {
        using var ns = new NetworkNamespace();
        using var p = Process.Start(ns.Vmft(["run", "kvstore", "--clock", "virtual", "--net", "tap,ifname=vt1"],
            "setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin"))!;
        string output = p.StandardOutput.ReadToEnd(), errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 2, $"exit {p.ExitCode}: {output}{errors}");
        Assert.Contains("--net tap,ifname=vt1: cannot attach TAP device vt1: operation not permitted", errors);
        Assert.Single(errors.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(ns.HasInterface("vt1"));
    }
}
