using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Replay;
using VmFt.Hypervisor.Storage;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.Storage;

/// <summary>
/// The bundled <c>disk</c> guest (its own virtio-blk driver) against the host's disk service:
/// solo, recorded and replayed without the disk; the host's completions are logged events.
/// </summary>
public class DiskGuestTests
{
    internal static PcMachine Boot(long diskBytes, bool readOnly = false)
    {
        var m = new PcMachine(new MachineConfiguration { RamSize = 16 << 20, Disk = new DiskConfiguration((ulong)diskBytes / 512, readOnly) });
        m.LoadMultiboot(BundledImages.Get("disk"), "disk", new MultibootOptions());
        return m;
    }

    internal static uint Fnv(ReadOnlySpan<byte> data)
    {
        uint h = 2166136261;
        foreach (byte b in data) h = (h ^ b) * 16777619;
        return h;
    }

    [Fact]
    public void TheGuestReadsWritesAndFlushesThroughTheHostAndTheRecordingReplaysWithoutTheDisk()
    {
        var disk = new MemoryDisk(MemoryDisk.Pattern());
        uint expectedHash = Fnv(disk.Bytes.AsSpan(0, 4096));
        var machine = Boot(disk.Length);
        var output = new StringBuilder();
        machine.SerialOutput = b => output.Append((char)b);
        var log = new EventList();
        var service = new DiskService(machine.Disk!, disk);
        var outcome = new LiveRunner(machine, ClockMode.Virtual, null, log) { CheckpointInterval = 20_000, Disk = service }.Run(100_000_000);

        Assert.Equal(MachineExitReason.DebugExit, outcome.Reason);
        Assert.Equal(1, machine.ExitStatus);   // (0 << 1) | 1: every step as expected
        Assert.Contains($"disk: read 0-7 fnv 0x{expectedHash:x8}\n", output.ToString());
        Assert.Contains("disk: id vmft-disk-0\n", output.ToString());
        Assert.Contains("disk: past the end status 0x00000001\n", output.ToString());
        for (int i = 0; i < 1024; i++) Assert.Equal((byte)(i * 3 + 1), disk.Bytes[512 + i]);
        Assert.Equal((2UL, 1UL, 1UL), (service.Reads, service.Writes, service.Flushes));
        Assert.Equal(1, disk.Flushes);

        // Every completion is in the log at its position: a replay with no disk at all gets there.
        var reads = log.Events.OfType<DiskReadEvent>().ToArray();
        Assert.Equal(2, reads.Length);
        Assert.Equal(4096, reads[0].Data.Length);
        Assert.Equal(2, log.Events.OfType<DiskCompletionEvent>().Count());
        var replay = Boot(disk.Length);
        var replayOutput = new StringBuilder();
        replay.SerialOutput = b => replayOutput.Append((char)b);
        var replayer = new Replayer(replay);
        replayer.Feed(log.Events);
        var result = replayer.Result;
        Assert.Equal(log.Events.OfType<CheckpointEvent>().Count(), result.CheckpointsVerified);
        Assert.True(result.CheckpointsVerified > 3);
        Assert.Equal(machine.Cpu.Position, result.Position);
        Assert.Equal(machine.StateHash(), result.StateHash);
        Assert.Equal(output.ToString(), replayOutput.ToString());
    }

    [Fact]
    public void AReplayGivenOtherReadDataDiverges()
    {
        var disk = new MemoryDisk(MemoryDisk.Pattern());
        var machine = Boot(disk.Length);
        var log = new EventList();
        new LiveRunner(machine, ClockMode.Virtual, null, log) { CheckpointInterval = 20_000, Disk = new DiskService(machine.Disk!, disk) }.Run(100_000_000);
        var events = log.Events.Select(e => e is DiskReadEvent d && d.Data.Length == 4096
            ? d with { Data = d.Data.Select(b => (byte)~b).ToArray() } : e).ToList();
        var replayer = new Replayer(Boot(disk.Length));
        Assert.Throws<DivergenceException>(() => replayer.Feed(events));
    }

    [Fact]
    public void AReadOnlyDiskAnswersWritesWithIoErrorAndIsNotWritten()
    {
        var disk = new MemoryDisk(MemoryDisk.Pattern());
        var before = disk.Bytes.ToArray();
        var machine = Boot(disk.Length, readOnly: true);
        var output = new StringBuilder();
        machine.SerialOutput = b => output.Append((char)b);
        new LiveRunner(machine, ClockMode.Virtual, null) { Disk = new DiskService(machine.Disk!, disk) }.Run(100_000_000);
        Assert.Contains("disk: write 1-2 status 0x00000001\n", output.ToString());
        Assert.Equal(3, machine.ExitStatus);   // the guest counts the refused write as a failure
        Assert.Equal(before, disk.Bytes);
        Assert.Equal(0, disk.WritesLanded);
    }
}
