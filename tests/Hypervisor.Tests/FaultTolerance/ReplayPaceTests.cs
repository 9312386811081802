using VmFt.Hypervisor.FaultTolerance.Backup;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The lag bound in replay time: what the backup replays in the target time at the speed it
/// measured, between a floor and the bound in instructions; fed with made-up slices, no clock.
/// </summary>
public class ReplayPaceTests
{
    private static readonly TimeSpan Target = TimeSpan.FromMilliseconds(250);

    [Fact]
    public void Until_a_window_of_replay_is_measured_the_instruction_bound_holds()
    {
        var pace = new ReplayPace(Target);
        Assert.Equal(50_000_000UL, pace.Bound(50_000_000));
        pace.Observe(200_000, 2); // 2 ms of a 100 ms window
        Assert.Null(pace.InstructionsPerMs);
        Assert.Equal(50_000_000UL, pace.Bound(50_000_000));
    }

    [Fact]
    public void A_fast_backup_keeps_the_instruction_bound_and_a_starved_one_gets_a_tighter_one()
    {
        var fast = new ReplayPace(Target);
        for (int i = 0; i < 60; i++) fast.Observe(200_000, 1); // 200 MIPS: 250 ms is 50M instructions
        Assert.Equal(50_000_000UL, fast.Bound(50_000_000));

        var starved = new ReplayPace(Target);
        for (int i = 0; i < 60; i++) starved.Observe(200_000, 20); // 10 MIPS: 250 ms is 2.5M instructions
        Assert.Equal(10_000, starved.InstructionsPerMs!.Value, precision: 6);
        Assert.Equal(2_500_000UL, starved.Bound(50_000_000));
    }

    [Fact]
    public void The_pace_follows_a_backup_that_slows_down_within_a_few_windows()
    {
        var pace = new ReplayPace(Target);
        for (int i = 0; i < 100; i++) pace.Observe(200_000, 2); // 100 MIPS
        Assert.Equal(25_000_000UL, pace.Bound(50_000_000));
        for (int i = 0; i < 5; i++) pace.Observe(200_000, 100); // five windows at 2 MIPS
        ulong bound = pace.Bound(50_000_000);
        // The old 100 MIPS has halved away five times: about 5 MIPS, 1.27M instructions in 250 ms (2 MIPS alone would be 0.5M, the floor 1M).
        Assert.InRange(bound, ReplayPace.FloorInstructions, 3_000_000UL);
    }

    [Fact]
    public void The_bound_never_falls_below_the_floor_nor_rises_above_the_ceiling()
    {
        var stopped = new ReplayPace(Target);
        stopped.Observe(20_000, 1_000); // a process stopped for a second in one slice
        Assert.Equal(ReplayPace.FloorInstructions, stopped.Bound(50_000_000));
        Assert.Equal(500_000UL, stopped.Bound(500_000)); // a ceiling under the floor wins
    }

    [Fact]
    public void Slices_that_replayed_nothing_teach_nothing()
    {
        var pace = new ReplayPace(Target);
        for (int i = 0; i < 1_000; i++) pace.Observe(0, 5); // waiting for log
        Assert.Null(pace.InstructionsPerMs);
    }
}
