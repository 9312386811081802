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

    [Fact]
    public void A_repair_run_has_one_live_node_per_generation_and_every_kill_join_and_switch()
    {
        NodeLine[] lines =
        [
            new(10, "primary", "primary: logging channel to the backup at 127.0.0.1:5 is up"),
            new(100, NodeTimeline.Bench, "kill primary"),
            new(120, "backup", "backup: primary lost: TransportFailed"),
            new(121, "backup", "backup: won the arbiter for generation 1"),
            new(125, "backup", "backup: live as generation 1 (input offset 9), 5 ms after the loss was detected; announcing to the relay"),
            new(130, "relay", "relay: following backup (generation 1), client has 77 output bytes"),
            new(900, "backup", "backup: backup joined from 127.0.0.1:9 (generation 1): join_ms=420.5 pause_ms=15.25 checkpoint_ms=13.00 rounds=1 pages=16397 stop_copy_pages=13 instruction=5"),
            new(930, "backup-2", "backup-2: joined the primary at 127.0.0.1:7 (generation 1): 16397 pages in 1 pre-copy rounds and a stop-and-copy, 400.0 ms; state hash 0123456789abcdef at instruction 5 matches"),
            new(1000, NodeTimeline.Bench, "kill new primary backup"),
            new(1110, "backup-2", "backup-2: primary lost: TransportFailed"),
            new(1111, "backup-2", "backup-2: won the arbiter for generation 2"),
            new(1115, "backup-2", "backup-2: live as generation 2 (input offset 99), 5 ms after the loss was detected; announcing to the relay"),
            new(1120, "relay", "relay: following backup-2 (generation 2), client has 500 output bytes"),
            new(1121, "relay", "relay: following backup-2 (generation 2), client has 500 output bytes"),
            new(1900, "backup-2", "backup-2: backup joined from 127.0.0.1:10 (generation 2): join_ms=380.0 pause_ms=20.50 checkpoint_ms=13.00 rounds=1 pages=16397 stop_copy_pages=13 instruction=6"),
            new(2000, NodeTimeline.Bench, "kill new primary backup-2"),
            new(2110, "backup-3", "backup-3: primary lost: TransportFailed"),
            new(2111, "backup-3", "backup-3: won the arbiter for generation 3"),
            new(2115, "backup-3", "backup-3: live as generation 3 (input offset 199), 5 ms after the loss was detected; announcing to the relay"),
        ];
        var t = NodeTimeline.Read(lines, 3000);
        Assert.Equal([("primary", 10.0, 100.0), ("backup", 125.0, 1000.0), ("backup-2", 1115.0, 2000.0), ("backup-3", 2115.0, 3000.0)],
            t.Live.Select(l => (l.Node, l.StartMs, l.EndMs)));
        Assert.Equal([(100.0, "primary"), (1000.0, "backup"), (2000.0, "backup-2")], t.Kills);
        Assert.Equal([("backup", 1UL), ("backup-2", 2UL), ("backup-3", 3UL)], t.WentLive.Select(w => (w.Node, w.Generation)));
        Assert.Equal([(77L, 1UL), (500L, 2UL)], t.Switches.Select(x => (x.Offset, x.Generation))); // a repeated announcement is no new switch
        Assert.Equal([(420.5, 15.25), (380.0, 20.5)], t.Joins.Select(j => (j.JoinMs, j.PauseMs)));
        Assert.Equal([(930.0, "backup-2", 1UL)], t.Replicas);
        Assert.Equal(3, t.ArbiterWinners.Count);
        Assert.Empty(VerdictChecker.Check("", "", true, [], t.Live, t.ArbiterWinners));
    }

    [Fact]
    public void A_joined_backup_that_goes_live_before_the_old_primary_was_killed_is_two_live_nodes()
    {
        NodeLine[] lines =
        [
            new(10, "primary", "primary: logging channel to the backup at 127.0.0.1:5 is up"),
            new(100, NodeTimeline.Bench, "kill primary"),
            new(125, "backup", "backup: live as generation 1 (input offset 9), 5 ms after the loss was detected; announcing to the relay"),
            new(900, "backup-2", "backup-2: live as generation 2 (input offset 99), 5 ms after the loss was detected; announcing to the relay"),
            new(1000, NodeTimeline.Bench, "kill new primary backup"),
        ];
        var t = NodeTimeline.Read(lines, 3000);
        Assert.Contains(VerdictChecker.Check("", "", true, [], t.Live, t.ArbiterWinners), v => v.StartsWith("two live nodes: backup (", StringComparison.Ordinal) && v.Contains("backup-2"));
    }
}
