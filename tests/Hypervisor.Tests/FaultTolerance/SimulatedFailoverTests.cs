using VmFt.Guest.Images;
using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.Simulation;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// Failover in the deterministic simulator: whatever fails and whenever, the client's transcript is
/// the failure-free one (or, when both nodes die, a prefix of it: nothing wrong is ever emitted).
/// </summary>
public class SimulatedFailoverTests
{
    internal static readonly string[] Requests =
    [
        "c1 1 PUT alpha one", "c1 2 GET alpha", "c2 1 INCR n", "c2 2 INCR n", "c1 3 PUT beta two",
        "c2 3 GET n", "c1 4 DEL alpha", "c1 5 GET alpha", "c2 4 INCR n", "c1 6 GET beta",
    ];

    internal static SimulationOptions Options(int seed) => new()
    {
        Image = BundledImages.Get("kvstore"),
        ImageName = "kvstore",
        Seed = seed,
        ClientLines = Requests,
        ExpectedReplyLines = Requests.Length + 1, // the banner, then one reply per request
    };

    private static readonly Dictionary<int, string> Baselines = [];

    internal static string Baseline(int seed)
    {
        lock (Baselines)
        {
            if (!Baselines.TryGetValue(seed, out var t))
            {
                var r = new FtSimulation(Options(seed)).Run(FaultPlan.None);
                Assert.True(r.Completed, "the failure-free run must complete");
                Baselines[seed] = t = r.Transcript;
            }
            return t;
        }
    }

    [Fact]
    public void Failure_free_run_serves_every_request()
    {
        string t = Baseline(1);
        Assert.StartsWith("kvstore ready\n", t.Replace("\r", ""));
        Assert.Contains("c2 4 VALUE 3", t);
        Assert.Contains("c1 5 NOTFOUND", t);
    }

    public static TheoryData<FaultScenario, int, int> Schedules()
    {
        var data = new TheoryData<FaultScenario, int, int>();
        foreach (var kind in new[] { FaultCatalogue.KillPrimary, FaultCatalogue.KillBackup, FaultCatalogue.Partition })
            foreach (int at in new[] { 1, 2, 5, 9, 14, 20, 27, 33, 41 })
                foreach (int seed in new[] { 1, 2 })
                    data.Add(kind, at, seed);
        return data;
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Transcript_is_identical_after_any_single_failure(FaultScenario kind, int atStep, int seed)
    {
        var result = new FtSimulation(Options(seed)).Run(new FaultPlan(kind, atStep));
        Assert.Empty(result.Violations);
        Assert.True(result.Completed, $"{kind}@{atStep}: service did not complete; transcript so far:\n{result.Transcript}");
        Assert.Equal(Baseline(seed), result.Transcript);
        // The fault really happened before the work was done, and was handled the way it must be.
        if (kind == FaultCatalogue.KillPrimary && atStep < 30) Assert.Equal("B", result.LiveNodeAtEnd);
        if (kind == FaultCatalogue.KillBackup) Assert.Equal("A", result.LiveNodeAtEnd);
    }

    [Theory]
    [InlineData("A", 3, 5)]
    [InlineData("A", 12, 20)]
    [InlineData("A", 25, 8)]
    [InlineData("B", 3, 5)]
    [InlineData("B", 12, 20)]
    public void A_broken_relay_connection_loses_nothing_once_the_relay_reconnects(string node, int atStep, int duration)
    {
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var result = new FtSimulation(Options(seed)).Run(new FaultPlan(new Fault(FaultCatalogue.RelayReset, atStep, duration, node)));
            Assert.Empty(result.Violations);
            Assert.True(result.Completed, $"seed {seed}: service did not complete; transcript so far:\n{result.Transcript}");
            Assert.Equal(Baseline(seed), result.Transcript);
            Assert.Null(result.FailoverStep); // the logging channel was fine: nobody failed over
        }
    }

    [Theory]
    [InlineData(10)]
    [InlineData(28)]
    public void The_new_primary_survives_a_broken_relay_connection_right_after_going_live(int atStep)
    {
        // The backup goes live about FailureTimeout steps after the crash, while its relay link is down:
        // its announcement is lost and only the re-announcement on reconnecting brings the relay over.
        var plan = new FaultPlan(new Fault(FaultCatalogue.KillPrimary, atStep), new Fault(FaultCatalogue.RelayReset, atStep + 15, 15, "B"));
        var result = new FtSimulation(Options(1)).Run(plan);
        Assert.Empty(result.Violations);
        Assert.True(result.Completed, $"service did not complete; transcript so far:\n{result.Transcript}");
        Assert.Equal(Baseline(1), result.Transcript);
        Assert.Equal("B", result.LiveNodeAtEnd);
    }

    [Theory]
    [InlineData("A")]
    [InlineData("B")]
    public void A_one_way_partition_leaves_exactly_one_live_node_and_the_same_transcript(string deafSide)
    {
        foreach (int at in new[] { 2, 9, 20 })
        {
            var result = new FtSimulation(Options(1)).Run(new FaultPlan(new Fault(FaultCatalogue.PartitionOneWay, at, 0, deafSide)));
            Assert.Empty(result.Violations);
            Assert.True(result.Completed, $"from {deafSide} at {at}: did not complete");
            Assert.Equal(Baseline(1), result.Transcript);
        }
    }

    [Fact]
    public void A_pause_shorter_than_the_failure_timeout_changes_nothing_and_a_longer_one_still_gives_the_same_transcript()
    {
        var brief = new FtSimulation(Options(1)).Run(new FaultPlan(new Fault(FaultCatalogue.Pause, 8, 10)));
        Assert.Empty(brief.Violations);
        Assert.Null(brief.FailoverStep);
        Assert.Equal(Baseline(1), brief.Transcript);

        var longer = new FtSimulation(Options(1)).Run(new FaultPlan(new Fault(FaultCatalogue.Pause, 8, 40)));
        Assert.Empty(longer.Violations);
        Assert.True(longer.Completed);
        Assert.Equal(Baseline(1), longer.Transcript);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(17)]
    [InlineData(30)]
    public void When_the_new_primary_dies_too_the_service_stops_without_emitting_anything_wrong(int atStep)
    {
        var result = new FtSimulation(Options(1)).Run(new FaultPlan(FaultCatalogue.KillNewPrimary, atStep));
        Assert.False(result.Completed);
        Assert.StartsWith(result.Transcript, Baseline(1));
    }

    [Fact]
    public void A_primary_killed_in_the_middle_of_writing_a_frame_is_failed_over_like_one_killed_between_frames()
    {
        // The crash cuts what the primary had in flight at any byte: most kills leave the backup a
        // partial frame, which a real channel once took for a protocol error, and the backup gave up.
        int cutInsideAFrame = 0;
        foreach (int seed in new[] { 1, 2, 3 })
            for (int at = 2; at <= 60; at += 2)
            {
                var result = new FtSimulation(Options(seed)).Run(new FaultPlan(FaultCatalogue.KillPrimary, at));
                Assert.Empty(result.Violations);
                Assert.True(result.Completed, $"seed {seed}, kill at {at}: {result.BackupChannelEnd}");
                Assert.Equal("B", result.LiveNodeAtEnd);
                if (result.BackupChannelEnd!.Contains("inside a frame", StringComparison.Ordinal)) cutInsideAFrame++;
            }
        Assert.True(cutInsideAFrame > 20, $"only {cutInsideAFrame} of 90 kills cut a frame");
    }

    [Fact]
    public void A_backup_that_never_goes_live_is_caught_as_a_loss_of_availability()
    {
        // The checker must fail on a service that stops without a wrong byte, not only on wrong bytes.
        var result = new FtSimulation(Options(1) with { DisableGoLiveForTesting = true }).Run(new FaultPlan(FaultCatalogue.KillPrimary, 20));
        Assert.False(result.Completed);
        var violation = Assert.Single(result.Violations);
        Assert.Contains("availability lost: no node is left to serve (A dead, B halted", violation);
    }

    [Fact]
    public void A_service_that_stalls_without_stopping_is_caught_too()
    {
        // A backup that goes live but whose relay link never comes back: both nodes exist, nobody answers.
        var plan = new FaultPlan(new Fault(FaultCatalogue.KillPrimary, 10), new Fault(FaultCatalogue.RelayReset, 12, 4000, "B"));
        var result = new FtSimulation(Options(1)).Run(plan);
        Assert.False(result.Completed);
        Assert.Contains(result.Violations, v => v.Contains("availability lost: no reply for", StringComparison.Ordinal) && v.Contains("A dead, B live", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(19)]
    [InlineData(45)]
    [InlineData(60)]
    public void Both_nodes_standing_still_at_once_is_no_failure(int steps)
    {
        // The host starved or paused: each node's watchdog sees a late tick and holds none of that
        // stall against its peer, whichever of its threads runs first when it wakes.
        foreach (int seed in new[] { 1, 2, 3, 4 })
        {
            var result = new FtSimulation(Options(seed)).Run(new FaultPlan(new Fault(FaultCatalogue.FreezeBoth, 12, steps, "both")));
            Assert.Empty(result.Violations);
            Assert.Null(result.FailoverStep);
            Assert.Equal(Baseline(seed), result.Transcript);
        }
    }

    [Fact]
    public void A_primary_that_stands_still_past_the_timeout_is_failed_over_and_halts_when_it_wakes()
    {
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var result = new FtSimulation(Options(seed)).Run(new FaultPlan(new Fault(FaultCatalogue.FreezePrimary, 10, 50, "A")));
            Assert.Empty(result.Violations);
            Assert.Equal(Baseline(seed), result.Transcript);
            Assert.Equal("B", result.LiveNodeAtEnd);
            Assert.NotNull(result.FailoverStep);
        }
    }

    [Theory]
    [InlineData("A")]
    [InlineData("B")]
    public void A_reader_lagging_three_timeouts_behind_its_watchdog_is_no_failure(string node)
    {
        // The bench's start-up false failovers on a machine at load 30: a node's watchdog ran on
        // time while its reader waited for CPU, and the peer's heartbeats sat unread in its socket.
        // A watchdog that ignores those bytes declares the live peer dead; one that counts them does not.
        var fault = new FaultPlan(new Fault(FaultCatalogue.LaggingReader, 15, 60, node));
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var result = new FtSimulation(Options(seed)).Run(fault);
            Assert.Empty(result.Violations);
            Assert.Null(result.FailoverStep);
            Assert.Equal(Baseline(seed), result.Transcript);

            var unfixed = new FtSimulation(Options(seed) with { WatchdogIgnoresUnreadBytesForTesting = true }).Run(fault);
            Assert.NotNull(unfixed.FailoverStep);
        }
    }

    [Fact]
    public void A_node_whose_guest_exited_stays_until_the_relay_has_its_last_output()
    {
        // The disk process tests' empty transcripts now and then: the disk guest ends within
        // milliseconds, and its primary left a fixed pause later, before the relay of a loaded
        // machine had even connected. The relay here reaches the primary long after the exit.
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var options = ScheduleExplorer.Options(seed, new Random(seed), workload: SimulatedWorkload.DiskSelfTest);
            var failureFree = new FtSimulation(options).Run(FaultPlan.None);
            Assert.True(failureFree.Completed, string.Join("; ", failureFree.Violations));
            var late = new FaultPlan(new Fault(FaultCatalogue.RelayLate, failureFree.Steps + 40, 0, "A"));

            var result = new FtSimulation(options).Run(late);
            Assert.Empty(result.Violations);
            Assert.True(result.Completed);
            Assert.Equal(failureFree.Transcript, result.Transcript);
            Assert.Null(result.FailoverStep);

            var unfixed = new FtSimulation(options with { LeaveSoonAfterGuestExitForTesting = true }).Run(late);
            Assert.Contains(unfixed.Violations, v => v.Contains("the guest exited and no node is left (A left, B left), but the client got only 0 of"));
        }
    }

    [Fact]
    public void A_primary_that_dies_after_its_guest_exited_leaves_the_last_output_to_the_backup()
    {
        // The backup had replayed to the exit and gone, and the primary was still waiting for the
        // relay: its death took the last output along. Now the backup stays until the primary
        // says it is done, and otherwise goes live to hand the output over itself.
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var options = ScheduleExplorer.Options(seed, new Random(seed), workload: SimulatedWorkload.DiskSelfTest);
            var failureFree = new FtSimulation(options).Run(FaultPlan.None);
            var plan = new FaultPlan(
                new Fault(FaultCatalogue.RelayLate, failureFree.Steps + 40, 0, "A"),
                new Fault(FaultCatalogue.KillPrimary, failureFree.Steps + 20));

            var result = new FtSimulation(options).Run(plan);
            Assert.Empty(result.Violations);
            Assert.Equal(failureFree.Transcript, result.Transcript);
            Assert.Equal("B", result.LiveNodeAtEnd);

            var unfixed = new FtSimulation(options with { BackupLeavesAtGuestExitForTesting = true }).Run(plan);
            Assert.Contains(unfixed.Violations, v => v.Contains("the guest exited and no node is left (A dead, B left), but the client got only 0 of"));
        }
    }
}
