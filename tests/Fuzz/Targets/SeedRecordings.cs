using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;

namespace VmFt.Fuzz.Targets;

/// <summary>Recordings made by the project's own recorder, for seeds and for the gdb target's session.</summary>
internal static class SeedRecordings
{
    public const uint RamSize = 4u << 20;

    /// <summary>The bundled hello guest run to its exit (not embedded: the replayer takes the bundled image by name).</summary>
    public static byte[] Hello(ulong snapshotInterval = 0, ulong checkpointInterval = 20_000)
    {
        byte[] image = BundledImages.Get("hello");
        var machine = new PcMachine(new MachineConfiguration { RamSize = RamSize });
        machine.LoadMultiboot(image, "hello", new MultibootOptions());
        var header = RecordedMachine.HeaderFor(machine, ClockMode.Virtual, "hello", image, "", embedImage: false);
        using var output = new MemoryStream();
        var writer = new RecordingWriter(output, header, blockTargetLength: 2048, leaveOpen: true);
        var snapshots = snapshotInterval == 0 ? null : new RecordingSnapshotter(machine, snapshotInterval);
        var outcome = new LiveRunner(machine, ClockMode.Virtual, null, new RecordingSink(writer))
        {
            CheckpointInterval = checkpointInterval,
            SliceInstructions = 2_000,
            Snapshots = snapshots,
        }.Run(100_000_000);
        writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
        if (outcome.Reason != MachineExitReason.DebugExit) throw new InvalidOperationException($"hello ended with {outcome.Reason}");
        return output.ToArray();
    }

    /// <summary>One event of every kind, written by <see cref="RecordingWriter"/>.</summary>
    public static byte[] EveryKind(bool embed)
    {
        byte[] image = BundledImages.Get("hello");
        using var output = new MemoryStream();
        var writer = new RecordingWriter(output, LogChecksums.Header("hello", image, embed, "console=ttyS0"), blockTargetLength: 64, leaveOpen: true);
        foreach (var e in EveryKindEvents()) writer.Append(e);
        writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
        return output.ToArray();
    }

    /// <summary>
    /// Two pages of zeros as the runtime's Deflate wrote them once: written out, so that the seeds
    /// stay the same when another zlib compresses differently.
    /// </summary>
    private static readonly byte[] TwoZeroPagesDeflated = [0x62, 0x18, 0x05, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0xA3, 0x21, 0x30, 0x1A, 0x02, 0x80, 0x0D, 0xF9, 0x10, 0x00, 0x00];

    public static IEnumerable<LogEvent> EveryKindEvents()
    {
        return
        [
            new TimeSetEvent(1, 0, 1_000_000),
            new SerialInputEvent(2, 10, 0, "GET a\n"u8.ToArray()),
            new CheckpointEvent(3, 100, 0x0123_4567_89AB_CDEF),
            new OutputMarkerEvent(4, 120, 6),
            new PositionBeaconEvent(5, 200),
            new SnapshotStateEvent(6, 300, [1, 2, 3, 4], [5, 6], 1024),
            new SnapshotPagesEvent(7, 300, 0, 2, SnapshotPageEncoding.Deflate, TwoZeroPagesDeflated),
            new SnapshotPagesEvent(8, 300, 2, 1, SnapshotPageEncoding.Raw, new byte[SnapshotPageCodec.PageSize]),
            new NetReceiveEvent(9, 350, 0, [.. Enumerable.Repeat((byte)0xFF, 6), 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, .. new byte[46]]),
            new GuestExitEvent(10, 400, 1, -3),
        ];
    }
}
