using VmFt.Guest.Images;
using VmFt.Hypervisor;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Determinism;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Recording;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// A recording file as <c>vmft replay</c> and <c>vmft debug</c> read it: the reader and the snapshot
/// page decoder, nothing else, so the fuzzer spends its executions on the file format.
/// <see cref="RecordingReplayTarget"/> goes on into the replay session.
/// </summary>
public class RecordingTarget : FuzzTarget
{
    public override string Name => "recording";

    public override string Description => "recording file: RecordingReader, SnapshotPageCodec (checksums fixed up)";

    public override void Run(ReadOnlySpan<byte> input) => Read(input);

    /// <summary>Reads the (checksum-corrected) input and decodes every snapshot in it.</summary>
    protected static RecordingContents Read(ReadOnlySpan<byte> input)
    {
        byte[] bytes = LogChecksums.Fix(input, recording: true);
        RecordingContents contents = RecordingReader.ReadAll(bytes, allowTruncated: true);
        foreach (LogEvent e in contents.Events)
            if (e is SnapshotPagesEvent pages) SnapshotPageCodec.Decode(pages);
        return contents;
    }

    public override bool IsContract(Exception e) => e is LogFormatException or InputException or InvalidDataException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        yield return ("hello", SeedRecordings.Hello());
        yield return ("hello-snapshots", SeedRecordings.Hello(snapshotInterval: 30_000, checkpointInterval: 30_000));
        yield return ("every-kind", SeedRecordings.EveryKind(embed: false));
        byte[] embedded = SeedRecordings.EveryKind(embed: true);
        yield return ("every-kind-embedded", embedded);
        yield return ("truncated", SeedRecordings.EveryKind(embed: false)[..^30]);
    }
}

/// <summary>
/// A recording file as <c>vmft replay</c> opens it, past the reader: the replay session (machine
/// rebuilt from the header, recorded snapshots checked against the machine) and the first
/// instructions of the replay. Slower per input than <see cref="RecordingTarget"/>, and reaches
/// what a well-formed but wrong recording does to the replayer.
/// </summary>
public sealed class RecordingReplayTarget : RecordingTarget
{
    /// <summary>Larger machines are not built: allocating gigabytes per input would make the fuzzer crawl.</summary>
    private const ulong MaxRamBuilt = 16u << 20;

    public override string Name => "recording-replay";

    public override string Description => "recording file: as recording, then ReplaySession and 30,000 instructions of replay";

    public override void Run(ReadOnlySpan<byte> input)
    {
        RecordingContents contents = Read(input);
        var header = contents.Header;
        // Only images the input carries or the build bundles: a fuzzed name must not read host files.
        bool imageAtHand = header.Image is not null || (BundledImages.Contains(header.ImageName) && !File.Exists(header.ImageName));
        bool initrdAtHand = header.InitrdName is null || header.Initrd is not null;
        if (header.RamSize > MaxRamBuilt || !imageAtHand || !initrdAtHand) return;
        var session = new ReplaySession(contents, "fuzz.vmrec");
        // A short stretch of replay, enough for the timers to be programmed and the events applied.
        session.Goto(Math.Min(session.EndPosition, ReplayedInstructions));
    }

    private const ulong ReplayedInstructions = 30_000;

    /// <summary>A recording that does not replay is refused with <see cref="DivergenceException"/> (vmft replay: exit 3).</summary>
    public override bool IsContract(Exception e) => base.IsContract(e) || e is DivergenceException;
}
