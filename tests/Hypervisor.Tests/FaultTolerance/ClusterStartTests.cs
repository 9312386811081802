using System.Diagnostics;
using VmFt.Hypervisor.Bench.Faults;
using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.FaultTolerance.Processes;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// Starting a cluster: each child says where it listens before the next is started with it, a child
/// that cannot start is named with its exit code and last words in one line, and what every child
/// printed is kept for the evidence of a run. The children here are shell scripts that print what
/// vmft's nodes print, so start-up failures happen on demand.
/// </summary>
public class ClusterStartTests
{
    /// <summary>Children that run <paramref name="scripts"/>[name] in sh instead of vmft.</summary>
    private static Func<IEnumerable<string>, ProcessStartInfo> Scripts(Dictionary<string, string> scripts) => args =>
    {
        string role = args.First();
        var info = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(scripts[role]);
        return info;
    };

    private const string Backup = "echo 'backup: relay port 127.0.0.1:40001, logging channel on 127.0.0.1:40002'; sleep 30";

    [Fact]
    public async Task A_child_that_exits_before_it_listens_is_named_with_its_exit_code_and_last_words()
    {
        using var cluster = new FtProcesses
        {
            StartInfo = Scripts(new()
            {
                ["backup"] = Backup,
                ["primary"] = "echo 'starting'; echo 'vmft primary: --relay-port 127.0.0.1:0: cannot listen: Address already in use' >&2; exit 2",
            }),
        };
        var e = await Assert.ThrowsAsync<ClusterStartException>(() => cluster.StartAsync(["kvstore"], [], TimeSpan.FromSeconds(20)));
        Assert.Equal("the primary exited with code 2 before listening: \"vmft primary: --relay-port 127.0.0.1:0: cannot listen: Address already in use\"", e.Message);
        Assert.Null(cluster.Relay); // nothing after the child that failed was started
        // Each stream keeps its order; the two streams are read apart, so their interleaving is as they arrived.
        var lines = cluster.Primary!.Lines;
        Assert.Equal(["starting"], lines.Where(l => !l.Error).Select(l => l.Text));
        Assert.Equal(["vmft primary: --relay-port 127.0.0.1:0: cannot listen: Address already in use"], lines.Where(l => l.Error).Select(l => l.Text));
    }

    [Fact]
    public async Task A_child_that_never_says_where_it_listens_times_out_with_what_it_did_say()
    {
        using var cluster = new FtProcesses { StartInfo = Scripts(new() { ["backup"] = "echo 'loading the guest'; sleep 30" }) };
        var e = await Assert.ThrowsAsync<ClusterStartException>(() => cluster.StartAsync(["kvstore"], [], TimeSpan.FromSeconds(1)));
        Assert.Equal("the backup did not get to listening within 1 s: \"loading the guest\"", e.Message);
    }

    [Fact]
    public async Task Each_child_is_given_the_address_the_one_before_printed()
    {
        var started = new List<string>();
        using var cluster = new FtProcesses
        {
            StartInfo = args =>
            {
                var list = args.ToList();
                lock (started) started.Add(string.Join(' ', list));
                return Scripts(new()
                {
                    ["backup"] = Backup,
                    ["primary"] = "echo 'primary: relay port 127.0.0.1:40003'; sleep 30",
                    ["relay"] = "echo 'relay: clients connect to 127.0.0.1:40004'; sleep 30",
                })(list);
            },
            LogRoute = backup => new System.Net.IPEndPoint(backup.Address, backup.Port + 1000), // as a proxy would
        };
        string address = await cluster.StartAsync(["kvstore"], [], TimeSpan.FromSeconds(20));
        Assert.Equal("127.0.0.1:40004", address);
        Assert.Contains("--listen 127.0.0.1:0 --relay-port 127.0.0.1:0", started[0]);
        Assert.Contains("--backup 127.0.0.1:41002 --relay-port 127.0.0.1:0", started[1]);
        Assert.Contains("--listen 127.0.0.1:0 --nodes 127.0.0.1:40003,127.0.0.1:40001", started[2]);
    }

    [Fact]
    public async Task The_evidence_of_a_run_holds_every_childs_output_the_proxy_log_and_the_arbiter()
    {
        string report = Directory.CreateTempSubdirectory("vmft-evidence-").FullName;
        try
        {
            using var cluster = new FtProcesses
            {
                StartInfo = Scripts(new()
                {
                    ["backup"] = Backup,
                    ["primary"] = "echo 'primary: relay port 127.0.0.1:40003'; sleep 0.5; echo 'a warning' >&2; exit 9",
                    ["relay"] = "echo 'relay: clients connect to 127.0.0.1:40004'; sleep 30",
                }),
            };
            // The primary dies before the relay follows it (as one whose handshake timed out does).
            var e = await Assert.ThrowsAsync<ClusterStartException>(() => cluster.StartAsync(["kvstore"], [], TimeSpan.FromSeconds(20), untilServing: true));
            Assert.Equal("the primary exited with code 9 before the relay followed it: \"a warning\"", e.Message);
            File.WriteAllText(Path.Combine(cluster.ArbiterDirectory, "vm.gen1.owner"), "backup");
            var arbiter = cluster.ArbiterState();
            using var proxy = ChannelProxy.Start(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 9));
            proxy.Partition();
            cluster.Dispose();

            var result = new FaultRunResult { Index = 4, Scenario = FaultCatalogue.Partition, Seed = 17, Violations = { "something went wrong" } };
            string relative = RunEvidence.Write(report, result, "failed", cluster, [new NodeLine(1.5, "bench", "partition")], proxy, null, arbiter,
                "kvstore ready\n", "kvstore ready\nc1 1 OK\n", ["c1 1 PUT a b"]);
            string dir = Path.Combine(report, relative);
            Assert.Equal(Path.Combine("evidence", "run-004-partition-kvstore-seed17-failed"), relative);
            Assert.Contains("violation: something went wrong", File.ReadAllText(Path.Combine(dir, "summary.txt")));
            Assert.Contains("primary: pid ", File.ReadAllText(Path.Combine(dir, "summary.txt")));
            Assert.Contains("exit code 9", File.ReadAllText(Path.Combine(dir, "summary.txt")));
            var primaryLog = File.ReadAllLines(Path.Combine(dir, "primary.log"));
            Assert.Equal(2, primaryLog.Length);
            Assert.Contains(primaryLog, l => l.EndsWith(" out primary: relay port 127.0.0.1:40003", StringComparison.Ordinal));
            Assert.Contains(primaryLog, l => l.EndsWith(" err a warning", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(dir, "backup.log")));
            Assert.Contains("[bench] partition", File.ReadAllText(Path.Combine(dir, "timeline.log")));
            Assert.Contains("partition: everything dropped from now on", File.ReadAllText(Path.Combine(dir, "channel-proxy.log")));
            Assert.Equal("vm.gen1.owner: \"backup\"\n", File.ReadAllText(Path.Combine(dir, "arbiter.txt")));
            Assert.Equal("kvstore ready\nc1 1 OK\n", File.ReadAllText(Path.Combine(dir, "expected.txt")));
            Assert.Equal("kvstore ready\n", File.ReadAllText(Path.Combine(dir, "transcript.txt")));
            Assert.Equal("c1 1 PUT a b", File.ReadAllLines(Path.Combine(dir, "sent.txt")).Single());
        }
        finally
        {
            Directory.Delete(report, recursive: true);
        }
    }
}
