using System.Text.Json;
using VmFt.Hypervisor.Tests.Cli;
using VmFt.Hypervisor.Tests.Network;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary><c>vmft bench faults</c> end to end: real processes, one primary kill under kvstore load.</summary>
public class BenchFaultsProcessTests
{
    [Fact]
    public void KillPrimaryRunPassesAndWritesTheReport()
    {
        string dir = Directory.CreateTempSubdirectory("vmft-faults-").FullName;
        try
        {
            var (exit, stdout, stderr) = VmftProcess.Run("", "bench", "faults", "--scenario", "kill-primary", "--workload", "kvstore",
                "--duration", "2", "--seed", "7", "--rate", "100", "--out", dir);
            Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
            Assert.Contains("kill-primary/kvstore seed 7: PASS", stdout);
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "runs.json")));
            var run = Assert.Single(doc.RootElement.GetProperty("runs").EnumerateArray());
            Assert.Equal("PASS", run.GetProperty("verdict").GetString());
            Assert.True(run.GetProperty("requests").GetDouble() > 0);
            // The kill really happened and the backup took over.
            Assert.Contains("the backup went live", run.GetProperty("notes").EnumerateArray().Select(n => n.GetString()));
            Assert.True(File.Exists(Path.Combine(dir, "report.md")));
            Assert.True(File.Exists(Path.Combine(dir, "runs.csv")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The net workload: frames through a TAP in the run's own namespace, the primary killed; judged on the run's capture of the TAP.</summary>
    [NamespaceFact]
    public void NetKillPrimaryRunPassesOnItsCaptureOfTheTap()
    {
        string dir = Directory.CreateTempSubdirectory("vmft-faults-").FullName;
        try
        {
            var (exit, stdout, stderr) = VmftProcess.Run("", "bench", "faults", "--scenario", "kill-primary", "--workload", "net",
                "--duration", "2", "--warmup", "0.5", "--seed", "7", "--rate", "100", "--out", dir);
            Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
            Assert.Contains("kill-primary/net seed 7: PASS", stdout);
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "runs.json")));
            var run = Assert.Single(doc.RootElement.GetProperty("runs").EnumerateArray());
            Assert.True(run.GetProperty("requests").GetDouble() > 0);
            Assert.Contains("the backup went live", run.GetProperty("notes").EnumerateArray().Select(n => n.GetString()));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TheNetWorkloadRefusesAScenarioItDoesNotRunWithInOneLine()
    {
        var (exit, _, stderr) = VmftProcess.Run("", "bench", "faults", "--scenario", "kill-primary,partition", "--workload", "net");
        Assert.Equal(2, exit);
        Assert.Equal("vmft bench faults: --workload net: runs with solo, baseline, kill-primary only, not partition", stderr.Trim());
    }

    /// <summary>One run of <paramref name="scenario"/> under kvstore load; its notes, once it passed.</summary>
    private static List<string?> PassingRunNotes(string scenario, string seed)
    {
        List<string?> notes = [];
        PassingRun(scenario, seed, (run, _) => notes = run.GetProperty("notes").EnumerateArray().Select(n => n.GetString()).ToList());
        return notes;
    }

    /// <summary>
    /// One run of <paramref name="scenario"/> under kvstore load through the bench's entry point;
    /// once it passed, <paramref name="check"/> sees its runs.json entry and the report's folder.
    /// </summary>
    private static void PassingRun(string scenario, string seed, Action<JsonElement, string> check)
    {
        string dir = Directory.CreateTempSubdirectory("vmft-faults-").FullName;
        try
        {
            var (exit, stdout, stderr) = VmftProcess.Run("", "bench", "faults", "--scenario", scenario, "--workload", "kvstore",
                "--duration", "2", "--seed", seed, "--out", dir);
            Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "runs.json")));
            var run = Assert.Single(doc.RootElement.GetProperty("runs").EnumerateArray());
            Assert.Equal("PASS", run.GetProperty("verdict").GetString());
            check(run, dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A repair scenario through the bench's own entry point: every cycle's kill, go-live and join
    /// happened (a new backup joined each node that went live, and the next kill made it go live),
    /// with the client's transcript the failure-free one (the verdict).
    /// </summary>
    [Theory]
    [InlineData("repair", 2, "14")]
    [InlineData("kill-loop", 10, "15")]
    public void Every_kill_and_rejoin_cycle_of_a_repair_scenario_passes(string scenario, int cycles, string seed) =>
        PassingRun(scenario, seed, (run, dir) =>
        {
            var notes = run.GetProperty("notes").EnumerateArray().Select(n => n.GetString()).ToList();
            Assert.Contains($"{cycles} kill-and-rejoin cycles: backup-{cycles + 1} joined backup-{cycles}, generation {cycles}", notes);
            var joins = run.GetProperty("joins").EnumerateArray().ToList();
            Assert.Equal(cycles, joins.Count);
            Assert.All(joins, j => Assert.True(j.GetProperty("pause_ms").GetDouble() > 0));
            var failovers = run.GetProperty("failovers").EnumerateArray().ToList();
            Assert.Equal(Enumerable.Range(1, cycles).Select(g => (ulong)g), failovers.Select(f => f.GetProperty("generation").GetUInt64()));
            Assert.Contains("## Restoring redundancy", File.ReadAllText(Path.Combine(dir, "report.md")));
        });

    [Fact]
    public void A_reset_relay_connection_loses_no_request()
    {
        var notes = PassingRunNotes("relay-reset", "11");
        Assert.Contains("the relay reconnected to the primary", notes);
        Assert.DoesNotContain("the backup went live", notes); // a relay reset is no reason to fail over
    }

    [Fact]
    public void The_guest_alone_under_the_same_load_passes_with_no_node_in_sight()
    {
        var notes = PassingRunNotes("solo", "13");
        Assert.DoesNotContain(notes, n => n!.Contains("went live") || n.Contains("back-pressure"));
    }

    [Fact]
    public void A_slow_backup_makes_the_primary_wait_on_its_send_window()
    {
        var notes = PassingRunNotes("slow-backup", "12");
        Assert.Contains(notes, n => n!.StartsWith("back-pressure: the primary waited ", StringComparison.Ordinal));
        Assert.DoesNotContain("the backup went live", notes);
    }

    [Theory]
    [InlineData("--scenario", "nope")]
    [InlineData("--workload", "nope")]
    [InlineData("--runs", "0")]
    [InlineData("--duration", "0")]
    [InlineData("--clients", "65")]
    [InlineData("--warmup", "-1")]
    [InlineData("--cpubench-iterations", "0")]
    public void BadFlagIsOneLineAndExitTwo(string flag, string value)
    {
        var (exit, _, stderr) = VmftProcess.Run("", "bench", "faults", flag, value);
        Assert.Equal(2, exit);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith($"vmft bench faults: {flag}", stderr);
    }
}
