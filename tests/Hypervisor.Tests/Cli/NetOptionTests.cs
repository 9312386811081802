using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary>
/// <c>--net</c> that cannot work is one line and exit 2. Every case here fails before a TAP is
/// opened (the interface would otherwise be made in this machine's own namespace); the ones that
/// need a TAP run inside a namespace of their own (<c>Network/TapNamespaceTests</c>).
/// </summary>
public sealed class NetOptionTests
{
    [Theory]
    [InlineData("user", "'user' in 'user' is not a network backend")]
    [InlineData("tap", "names no interface")]
    [InlineData("tap,ifname=", "names no interface")]
    [InlineData("tap,ifname=x,model=e1000", "'model=e1000' in")]
    [InlineData("tap,ifname=x,mac=52:54:00:12:34", "is not a MAC address")]
    [InlineData("tap,ifname=x,mac=01:00:5e:00:00:01", "is a multicast address")]
    [InlineData("tap,ifname=a/b", "'a/b' is not an interface name")]
    [InlineData("tap,ifname=abcdefghijklmnop", "is not an interface name")]
    [InlineData("tap,ifname=x,netns=", "names no network namespace")]
    [InlineData("tap,ifname=vt0,netns=vmft-no-such-namespace", "there is no network namespace vmft-no-such-namespace")]
    [InlineData("tap,ifname=vt0,netns=a/b", "'a/b' is not a network namespace name")]
    public void ABadNetworkIsOneLineAndExitCode2(string spec, string expected)
    {
        foreach (string command in new[] { "run", "record" })
        {
            string[] args = command == "run"
                ? ["run", "kvstore", "--clock", "virtual", "--net", spec]
                : ["record", "kvstore", "--clock", "virtual", "-o", Path.Combine(Path.GetTempPath(), $"vmft-net-{Guid.NewGuid():N}.vmrec"), "--net", spec];
            var (exit, stdout, stderr) = VmftProcess.Run("", args);
            Assert.True(exit == 2, $"{command}: exit {exit}: {stdout}{stderr}");
            Assert.Contains(expected, stderr);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
