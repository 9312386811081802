using VmFt.Hypervisor.Bench.Faults;
using VmFt.Hypervisor.Faults;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>The report's plots are drawn in-process: one latency line per scenario, the failover histogram, a lag panel per scenario.</summary>
public sealed class FaultPlotsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vmft-plots-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static FaultRunResult Run(int index, FaultScenario scenario, double failover, double latencyScale)
    {
        var r = new FaultRunResult { Index = index, Scenario = scenario, Workload = FaultWorkload.Kvstore, Seed = index, FailoverMs = failover };
        for (int i = 1; i <= 200; i++) r.Latencies.Add(latencyScale * i / 20.0);
        for (int t = 0; t < 30; t++) r.Lag.Add((t * 100.0, 2 + (t % 7) * latencyScale));
        return r;
    }

    [Fact]
    public void Every_plot_is_drawn_with_its_data_per_scenario()
    {
        List<FaultRunResult> results =
        [
            Run(0, FaultCatalogue.KillPrimary, 180, 1), Run(1, FaultCatalogue.KillPrimary, 210, 1.2),
            Run(2, FaultCatalogue.Partition, 520, 2), Run(3, FaultCatalogue.Baseline, 0, 0.5),
        ];
        results[3].FailoverMs = null;
        var (plots, note) = FaultPlots.Draw(results, _dir);
        Assert.Equal("Plots drawn (3).", note);
        Assert.Equal(["latency-cdf.png", "failover-histogram.png", "lag.png"], plots.Select(Path.GetFileName));
        foreach (var p in plots)
        {
            var bytes = File.ReadAllBytes(p);
            Assert.True(bytes.Length > 10_000, $"{p}: {bytes.Length} bytes");
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        }
        // One block per scenario (three with latencies), not one line mixing them all.
        string cdf = File.ReadAllText(Path.Combine(_dir, "latency-cdf.dat"));
        Assert.Equal(["# kill-primary/kvstore", "# partition/kvstore", "# baseline/kvstore"], cdf.Split('\n').Where(l => l.StartsWith('#')));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(_dir, "failover.dat")).Length);
        Assert.Equal(4, File.ReadAllText(Path.Combine(_dir, "lag.dat")).Split('\n').Count(l => l.StartsWith("# run", StringComparison.Ordinal)));
    }

    [Fact]
    public void Runs_without_figures_draw_nothing_and_say_so()
    {
        var (plots, note) = FaultPlots.Draw([new FaultRunResult { Scenario = FaultCatalogue.KillPrimary, Workload = FaultWorkload.Cpubench }], _dir);
        Assert.Empty(plots);
        Assert.StartsWith("No plots", note);
    }
}
