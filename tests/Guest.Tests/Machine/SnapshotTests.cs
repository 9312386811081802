using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using Xunit;

namespace VmFt.Guest.Tests.Machine;

/// <summary>
/// Snapshots copy, and restores write back, only the pages written since the last snapshot taken
/// or restored. What they hold must still be exactly the machine's RAM, whatever path the stores
/// took (a write translation the CPU made before the snapshot included).
/// </summary>
public class SnapshotTests
{
    private static PcMachine Cpubench()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 16u << 20 });
        machine.LoadMultiboot(BundledImages.Get("cpubench"), "cpubench", new MultibootOptions { CommandLine = "iterations=20" });
        return machine;
    }

    private static void AssertHoldsRam(MachineSnapshot snapshot, PcMachine machine)
    {
        var ram = machine.Memory.Ram;
        for (int i = 0; i < snapshot.Pages.Count; i++)
            Assert.True(snapshot.Pages[i].AsSpan().SequenceEqual(ram.AsSpan(i * MachineSnapshot.PageSize, MachineSnapshot.PageSize)), $"page {i} differs");
    }

    [Fact]
    public void A_snapshot_after_another_copies_only_what_changed_and_still_holds_all_of_ram()
    {
        var machine = Cpubench();
        machine.RunUntil(200_000);
        var first = machine.TakeSnapshot();
        AssertHoldsRam(first, machine);
        // The guest keeps storing through the write translations it already had.
        machine.RunUntil(400_000);
        var second = machine.TakeSnapshot(first);
        AssertHoldsRam(second, machine);
        Assert.InRange(second.NewPages, 1, 600); // of 4096
        Assert.Equal(second.Pages.Count - second.NewPages, second.Pages.Where((p, i) => ReferenceEquals(p, first.Pages[i])).Count());
    }

    [Fact]
    public void Restoring_back_and_forth_gives_the_states_the_run_had()
    {
        var machine = Cpubench();
        machine.RunUntil(150_000);
        var a = machine.TakeSnapshot();
        ulong hashA = machine.StateHash();
        machine.RunUntil(300_000);
        var b = machine.TakeSnapshot(a);
        ulong hashB = machine.StateHash();
        machine.RunUntil(450_000);
        ulong hashC = machine.StateHash();

        machine.RestoreSnapshot(a);
        Assert.Equal(hashA, machine.StateHash());
        AssertHoldsRam(a, machine);
        machine.RestoreSnapshot(b);
        Assert.Equal(hashB, machine.StateHash());
        machine.RunUntil(450_000);
        Assert.Equal(hashC, machine.StateHash());
        machine.RestoreSnapshot(a); // after running on from b: the pages written since must come back too
        Assert.Equal(hashA, machine.StateHash());
        AssertHoldsRam(a, machine);
        machine.RunUntil(300_000);
        Assert.Equal(hashB, machine.StateHash());
    }

    [Fact]
    public void A_store_outside_the_cpu_is_noted_too()
    {
        var machine = Cpubench();
        machine.RunUntil(100_000);
        var a = machine.TakeSnapshot();
        machine.Memory.WriteByte(0x20_0000, 0x5A); // as a debugger's memory write does
        var b = machine.TakeSnapshot(a);
        Assert.Equal(0x5A, b.Pages[0x200][0]);
        machine.RestoreSnapshot(a);
        Assert.Equal(0, machine.Memory.Ram[0x20_0000]);
    }
}
