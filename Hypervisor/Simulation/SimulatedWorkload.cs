using System.Text;
using System.Text.RegularExpressions;
using VmFt.Guest.Images;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// What the simulated cluster runs and what its client types: the guest, its command line and disk,
/// the script, how many lines the guest prints before it answers, the fields of the transcript
/// that depend on when input reached the guest, and what the disk must hold at the end.
/// </summary>
public sealed partial record SimulatedWorkload
{
    public required string Name { get; init; }
    public required string ImageName { get; init; }
    public string CommandLine { get; init; } = "";
    /// <summary>The shared disk's size in sectors (0: no disk).</summary>
    public int DiskSectors { get; init; }
    /// <summary>One disk both nodes share, or a copy for each (the non-shared mode).</summary>
    public bool DiskShared { get; init; } = true;
    public required string[] Requests { get; init; }
    /// <summary>Lines the guest prints before its first answer; then one line per request.</summary>
    public int BannerLines { get; init; } = 1;
    private Regex? Timing { get; init; }
    private string TimingBlank { get; init; } = "";
    /// <summary>What the final disk must hold given the client's transcript: one problem per line, none when it holds it.</summary>
    private Func<string, byte[], IEnumerable<string>>? DiskCheck { get; init; }

    public int ExpectedReplyLines => BannerLines + Requests.Length;

    /// <summary>The transcript with the fields that depend on timing blanked.</summary>
    public string WithoutTiming(string transcript) => Timing is null ? transcript : Timing.Replace(transcript, TimingBlank);

    /// <summary>The problems of the final disk for this transcript (none without a disk check).</summary>
    public IEnumerable<string> CheckDisk(string transcript, byte[] disk) => DiskCheck?.Invoke(transcript, disk) ?? [];

    /// <summary>
    /// The bundled kvstore and a scripted client. STATS replies carry the guest's tick count and TSC,
    /// which depend on when input reached the guest: they are what makes output released too early
    /// visible to the client.
    /// </summary>
    public static SimulatedWorkload Kvstore { get; } = new()
    {
        Name = "kvstore",
        ImageName = "kvstore",
        Requests =
        [
            "c1 1 PUT alpha one", "c1 2 GET alpha", "c2 1 INCR n", "c3 1 STATS", "c2 2 INCR n", "c1 3 PUT beta two",
            "c2 3 GET n", "c3 2 STATS", "c1 4 DEL alpha", "c1 5 GET alpha", "c2 4 INCR n", "c3 3 STATS", "c1 6 GET beta",
        ],
        Timing = KvstoreTiming(),
        TimingBlank = "uptime_ticks=* tsc=*",
    };

    /// <summary>
    /// The bundled disk guest's journal on a shared disk (see its source): every line becomes a
    /// record stamped with the guest's TSC, written and flushed before the guest answers
    /// "committed SEQ TSC". Each record a client saw committed must be on the final disk, exactly.
    /// </summary>
    public static SimulatedWorkload Journal { get; } = new()
    {
        Name = "journal",
        ImageName = "disk",
        CommandLine = "journal",
        DiskSectors = 128,
        Requests = [.. Enumerable.Range(1, 12).Select(i => $"entry {i} {new string((char)('a' + i), i)}")],
        BannerLines = 13, // the disk self-test's twelve lines and "journal ready"
        Timing = JournalTiming(),
        TimingBlank = "committed $1 *",
        DiskCheck = CheckJournal,
    };

    /// <summary>The journal with a disk of each node's own: the primary writes at once, the backup writes what its replay completes.</summary>
    public static SimulatedWorkload JournalNonShared { get; } = Journal with { Name = "journal-nonshared", DiskShared = false };

    /// <summary>
    /// The bundled disk guest's self-test alone: twelve lines, then the guest exits within a few
    /// steps, without a request. What it shows is the end of a run: the node whose guest exited
    /// must stay until the relay has its last output, however late the relay comes.
    /// </summary>
    public static SimulatedWorkload DiskSelfTest { get; } = new()
    {
        Name = "disk-selftest",
        ImageName = "disk",
        DiskSectors = 128,
        Requests = [],
        BannerLines = 12,
    };

    public static IReadOnlyList<SimulatedWorkload> All { get; } = [Kvstore, Journal, JournalNonShared, DiskSelfTest];

    public byte[] Image => BundledImages.Get(ImageName);

    private const int JournalFirstSector = 8;

    private static IEnumerable<string> CheckJournal(string transcript, byte[] disk)
    {
        foreach (Match m in JournalTiming().Matches(transcript))
        {
            int seq = int.Parse(m.Groups[1].Value);
            string want = $"J {seq} {m.Groups[2].Value} ";
            int at = (JournalFirstSector + seq) * 512;
            string got = at + 512 <= disk.Length ? Encoding.ASCII.GetString(disk, at, want.Length) : "";
            if (got != want)
                yield return $"the client saw record {seq} committed ({m.Value.Trim()}), but sector {JournalFirstSector + seq} holds '{got.TrimEnd('\0')}'";
        }
    }

    [GeneratedRegex(@"uptime_ticks=\d+ tsc=\d+")]
    private static partial Regex KvstoreTiming();

    [GeneratedRegex(@"committed (\d+) (0x[0-9a-f]{8})")]
    private static partial Regex JournalTiming();
}
