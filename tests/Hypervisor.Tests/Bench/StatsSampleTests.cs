using VmFt.Guest.Machine;
using VmFt.Hypervisor.Bench.Faults;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>The primary's <c>ft stats</c> lines carry the hold times and the largest lag since the line before, so a benchmark can measure a window.</summary>
public class StatsSampleTests
{
    [Fact]
    public void Each_line_carries_the_holds_since_the_previous_one_and_the_bench_reads_them_back()
    {
        var stats = new FtStatistics();
        var machine = new PcMachine(new MachineConfiguration { RamSize = 1u << 20 });
        stats.Shipped([new OutputMarkerEvent(1, 10, 5), new OutputMarkerEvent(2, 20, 9)], 40);
        stats.Acked(2, 30);
        var first = StatsSample.TryParse(1, stats.Sample(machine));
        Assert.NotNull(first);
        Assert.Equal(2, first.RecentHolds.Count);
        Assert.All(first.RecentHolds, h => Assert.InRange(h, 0, 10_000));
        Assert.Equal(2, first.Releases);

        stats.Shipped([new OutputMarkerEvent(3, 40, 12)], 20);
        var second = StatsSample.TryParse(2, stats.Sample(machine));
        Assert.NotNull(second);
        Assert.Empty(second.RecentHolds); // nothing was released since the first line
        Assert.Equal(0, second.RecentMaxLagMs);
        Assert.Equal(2, second.Releases); // the totals still count from the start

        stats.Acked(3, 50);
        var third = StatsSample.TryParse(3, stats.Sample(machine));
        Assert.Single(third!.RecentHolds);
        Assert.Equal(3, third.Releases);
        Assert.Equal(60, third.LogBytes);
    }

    [Fact]
    public void A_line_without_the_recent_fields_still_reads()
    {
        var s = StatsSample.TryParse(5, "ft stats: instructions=1 guest_s=1.0 log_bytes=8 lag_ms=0 lag_instructions=0 max_lag_ms=0 hold_p50=0 hold_p99=0 hold_p999=0 releases=0");
        Assert.NotNull(s);
        Assert.Empty(s.RecentHolds);
        Assert.Equal(0, s.RecentMaxLagMs);
    }
}
