using VmFt.Guest.Images;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The backup acknowledges log on receipt (the output rule needs it to have the log, not to have
/// replayed it), but never more than <see cref="BackupNode.MaxReplayLag"/> instructions ahead of
/// its replay, so that a slow backup holds the primary back instead of falling behind without bound.
/// </summary>
public class BackupAcknowledgementTests
{
    private static PcMachine Cpubench()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20 });
        machine.LoadMultiboot(BundledImages.Get("cpubench"), "cpubench");
        return machine;
    }

    /// <summary>The log of a busy primary that ran <paramref name="steps"/> slices (virtual time).</summary>
    private static List<LogEvent> PrimaryLog(int steps)
    {
        var primary = new PrimaryNode("A", 0, Cpubench(), new OutputStream(), 1, 0) { SliceInstructions = 20_000 };
        var log = new List<LogEvent>();
        for (int i = 0; i < steps; i++)
        {
            primary.Step();
            log.AddRange(primary.TakeLog());
        }
        return log;
    }

    [Fact]
    public void What_arrives_is_acknowledged_before_it_is_replayed_up_to_the_lag_bound()
    {
        var log = PrimaryLog(200);
        ulong lastPosition = log[^1].Position;
        Assert.True(lastPosition > 1_000_000, $"the primary only ran to {lastPosition}");

        var backup = new BackupNode("B", Cpubench()) { MaxReplayLag = 500_000 };
        backup.OnLog(log);
        ulong ack = backup.Acknowledge();
        Assert.Equal(0UL, backup.Machine.Cpu.Position); // nothing replayed yet
        Assert.True(ack > 0, "received log within the bound is acknowledged at once");
        var acked = log.Single(e => e.Sequence == ack);
        Assert.True(acked.Position <= 500_000, $"acknowledged #{ack} at position {acked.Position}, beyond the bound");
        Assert.True(log.Single(e => e.Sequence == ack + 1).Position > 500_000, "stopped short of the bound");

        // Replay in slices: each returns with work left; the acknowledgement follows the replay.
        Assert.True(backup.Step(instructionBudget: 300_000));
        ulong later = backup.Acknowledge();
        Assert.True(later > ack);
        Assert.True(log.Single(e => e.Sequence == later).Position <= backup.Machine.Cpu.Position + 500_000);
        while (backup.Step(instructionBudget: 300_000)) { }
        Assert.Equal(log[^1].Sequence, backup.Acknowledge());
        Assert.Equal(backup.Received, backup.Replayed);
    }

    [Fact]
    public void A_paced_bound_tighter_than_the_instruction_bound_is_the_one_that_holds()
    {
        var log = PrimaryLog(200);
        var backup = new BackupNode("B", Cpubench()) { MaxReplayLag = 50_000_000, PacedReplayLag = 300_000 };
        backup.OnLog(log);
        ulong ack = backup.Acknowledge();
        Assert.True(log.Single(e => e.Sequence == ack).Position <= 300_000);
        Assert.True(log.Single(e => e.Sequence == ack + 1).Position > 300_000, "stopped short of the paced bound");

        backup.PacedReplayLag = null; // the host measured nothing: the instruction bound alone
        Assert.Equal(log[^1].Sequence, backup.Acknowledge());
    }

    [Fact]
    public void The_acknowledgement_never_goes_backwards()
    {
        var log = PrimaryLog(50);
        var backup = new BackupNode("B", Cpubench());
        backup.OnLog(log[..(log.Count / 2)]);
        ulong first = backup.Acknowledge();
        Assert.Equal(first, backup.Acknowledge());
        backup.OnLog(log);
        Assert.True(backup.Acknowledge() >= first);
        Assert.Equal(log[^1].Sequence, backup.Acknowledge());
    }
}
