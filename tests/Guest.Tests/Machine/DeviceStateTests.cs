using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using Xunit;

namespace VmFt.Guest.Tests.Machine;

/// <summary>
/// Device state carries a tag and a version per device, so a snapshot from a machine with other
/// devices, or with another layout of one device's state, is refused by name, and refusing it leaves
/// the machine as it was.
/// </summary>
public class DeviceStateTests
{
    /// <summary>kvstore with a request typed in, so that its UART, PIC and timers move between snapshots.</summary>
    private static PcMachine Kvstore(ulong run)
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 16u << 20 });
        machine.LoadMultiboot(BundledImages.Get("kvstore"), "kvstore");
        Advance(machine, run / 2);
        machine.SerialInput("c1 1 PUT k v\n"u8);
        Advance(machine, run);
        return machine;
    }

    private static void Advance(PcMachine machine, ulong until)
    {
        while (machine.Cpu.Position < until && machine.RunUntil(until) == MachineExitReason.Idle)
            if (!machine.SkipIdleTime()) break;
    }

    /// <summary>Where the entry for <paramref name="tag"/> starts in the layout: tag length, tag, version, length, state.</summary>
    private static int EntryOf(byte[] state, string tag)
    {
        var needle = new byte[] { (byte)tag.Length }.Concat(System.Text.Encoding.ASCII.GetBytes(tag)).ToArray();
        int at = state.AsSpan().IndexOf(needle);
        Assert.True(at > 0, $"no entry for '{tag}'");
        return at;
    }

    private static MachineSnapshot WithDeviceState(MachineSnapshot s, byte[] devices) =>
        MachineSnapshot.FromParts(s.Position, s.CpuState, devices, s.Pages.ToArray(), s.NewPages);

    [Fact]
    public void Every_stateful_device_is_saved_under_its_tag_and_version()
    {
        var state = Kvstore(100_000).TakeSnapshot().DeviceState;
        Assert.Equal("DEVS"u8.ToArray(), state[..4]);
        foreach (var (tag, version) in new[] { ("clock", 1), ("pic", 1), ("pit", 1), ("com1", 1), ("com2", 1), ("rtc", 1), ("kbc", 1), ("port92", 1), ("pci", 2), ("post", 1), ("fpu", 1) })
            Assert.Equal(version, state[EntryOf(state, tag) + 1 + tag.Length]);
    }

    [Fact]
    public void A_snapshot_with_another_version_of_a_device_is_refused_by_name_and_changes_nothing()
    {
        var machine = Kvstore(100_000);
        var snapshot = machine.TakeSnapshot();
        Advance(machine, 200_000);
        ulong before = machine.StateHash();

        var devices = (byte[])snapshot.DeviceState.Clone();
        devices[EntryOf(devices, "pit") + 1 + "pit".Length] = 7;
        var e = Assert.Throws<MachineStateException>(() => machine.RestoreSnapshot(WithDeviceState(snapshot, devices)));
        Assert.Equal("device state: device 'pit' has state version 7; this build reads version 1", e.Message);
        Assert.Equal(before, machine.StateHash());
    }

    [Fact]
    public void A_snapshot_missing_a_device_or_holding_an_unknown_one_is_refused()
    {
        var machine = Kvstore(50_000);
        var snapshot = machine.TakeSnapshot();
        var devices = snapshot.DeviceState;

        // Rename com2's tag: com2 is missing and "cxm2" is foreign.
        var renamed = (byte[])devices.Clone();
        renamed[EntryOf(renamed, "com2") + 2] = (byte)'x';
        var e = Assert.Throws<MachineStateException>(() => machine.RestoreSnapshot(WithDeviceState(snapshot, renamed)));
        Assert.Equal("device state: no state for device 'com2' (it was saved by a machine without it)", e.Message);

        // Drop the device count by one: the last entry becomes trailing bytes.
        var fewer = (byte[])devices.Clone();
        fewer[5]--;
        e = Assert.Throws<MachineStateException>(() => machine.RestoreSnapshot(WithDeviceState(snapshot, fewer)));
        Assert.StartsWith("device state: ", e.Message);
    }

    [Fact]
    public void Device_state_from_before_versions_existed_is_refused_with_one_line()
    {
        var machine = Kvstore(50_000);
        var snapshot = machine.TakeSnapshot();
        // The old layout began with the clock anchor's position (a u64), never with "DEVS".
        var old = new byte[64];
        BitConverter.TryWriteBytes(old, 50_000UL);
        var e = Assert.Throws<MachineStateException>(() => machine.RestoreSnapshot(WithDeviceState(snapshot, old)));
        Assert.Contains("no 'DEVS' header", e.Message);
    }

    [Fact]
    public void A_device_that_rejects_its_state_leaves_every_device_as_it_was()
    {
        var machine = Kvstore(100_000);
        var snapshot = machine.TakeSnapshot();
        Advance(machine, 180_000);
        ulong before = machine.StateHash();
        Assert.NotEqual(snapshot.DeviceState, machine.TakeSnapshot().DeviceState);

        // Cut the last device's state short by a byte and move the rest of the container up.
        var devices = snapshot.DeviceState;
        int last = EntryOf(devices, "fpu");
        int lengthAt = last + 1 + "fpu".Length + 1;
        uint length = BitConverter.ToUInt32(devices, lengthAt);
        var shorter = devices[..^1];
        BitConverter.TryWriteBytes(shorter.AsSpan(lengthAt), length - 1);
        var e = Assert.Throws<MachineStateException>(() => machine.RestoreSnapshot(WithDeviceState(snapshot, shorter)));
        Assert.Contains("device 'fpu'", e.Message);
        Assert.Equal(before, machine.StateHash());
    }
}
