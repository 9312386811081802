using VmFt.Hypervisor.Bench.Faults;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>Reading the processes' status lines into the failover moments and the live intervals.</summary>
public class NodeTimelineTests
{
    [Fact]
    public void KillAndTakeoverGiveOneLiveNodeAtATime()
    {
        NodeLine[] lines =
        [
            new(10, "primary", "primary: logging channel to the backup at 127.0.0.1:5 is up"),
            new(50, "primary", "ft stats: instructions=100 guest_s=0.5000 log_bytes=62500 lag_ms=1.00 lag_instructions=3 max_lag_ms=4.00 hold_p50=1.000 hold_p99=2.000 hold_p999=3.000 releases=7"),
            new(100, NodeTimeline.Bench, "kill primary"),
            new(120, "backup", "backup: primary lost: TransportFailed"),
            new(121, "backup", "backup: won the arbiter for generation 1"),
            new(125, "backup", "backup: live as generation 1 (input offset 9), 5 ms after the loss was detected"),
            new(130, "relay", "relay: following backup (generation 1), client has 77 output bytes"),
        ];
        var t = NodeTimeline.Read(lines, 500);
        Assert.Equal(2, t.Live.Count);
        Assert.Equal(100, t.Live[0].EndMs);
        Assert.Equal(125, t.Live[1].StartMs);
        Assert.Equal(500, t.Live[1].EndMs);
        Assert.Equal(77, t.SwitchOffset);
        Assert.Equal(120, t.PrimaryLostMs);
        Assert.Equal([new ArbiterWin("backup", 1)], t.ArbiterWinners);
        var s = Assert.Single(t.Samples);
        Assert.Equal(1.0, s.LogMbit, 6); // 62500 bytes * 8 over 0.5 s
        Assert.Equal(2.0, s.HoldP99);
        Assert.Empty(VerdictChecker.Check("", "", true, [], t.Live, t.ArbiterWinners));
    }

    [Fact]
    public void PrimaryThatCarriesOnAloneIsLiveAgainOnlyAfterTheArbiter()
    {
        NodeLine[] lines =
        [
            new(10, "primary", "primary: logging channel to the backup at 127.0.0.1:5 is up"),
            new(100, NodeTimeline.Bench, "partition"),
            new(600, "primary", "primary: backup lost: PeerTimeout"),
            new(601, "primary", "primary: won the arbiter for generation 1: continuing alone"),
            new(602, "backup", "backup: the primary won the arbiter for generation 1: halting"),
        ];
        var t = NodeTimeline.Read(lines, 900);
        Assert.Equal([(10.0, 100.0), (601.0, 900.0)], t.Live.Select(l => (l.StartMs, l.EndMs)));
        Assert.Equal(601, t.PrimaryAloneMs);
    }
}
