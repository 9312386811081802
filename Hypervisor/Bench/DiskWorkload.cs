using System.Globalization;
using System.Text.RegularExpressions;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// The measurements of <c>vmft bench disk</c> as shell commands for the guest's busybox on
/// <c>/dev/vda</c>, and the reading of what they print. Debian's busybox <c>dd</c> prints only its
/// record counts (no time, no rate: its third status line is configured out), so every command
/// reads the guest's own clock before and after, with the shell's <c>read</c> from
/// <c>/proc/uptime</c> (a builtin: no process of its own in the time measured), and ends with one
/// result line: <c>@@42 START END FAILURES</c>. The typed command's echo holds <c>@@$((6*7))</c>,
/// never <c>@@42</c>, so the result line cannot be mistaken for the echo.
/// Sequential transfers are one <c>dd</c> of 1 MiB blocks: writes buffered and then fsync'ed
/// (<c>conv=fsync</c>: the time includes getting them to stable storage), reads with
/// <c>iflag=direct</c> (from the disk, not the page cache). Random 4 KiB transfers are one
/// <c>dd</c> each at offsets from a linear congruential generator (the same offsets on every
/// machine), direct, writes each followed by a flush (<c>conv=fsync</c>); so a random I/O costs a
/// process start too, and the same loop without the disk (<see cref="NoDisk"/>) says how much.
/// </summary>
public static partial class DiskWorkload
{
    /// <summary>What starts the result line in the guest's output.</summary>
    public const string Result = "@@42 ";

    public const int BlockBytes = 4096;

    public static string SequentialWrite(int mib) => Timed($"dd if=/dev/zero of=/dev/vda bs=1M count={mib} conv=fsync || f=1");

    public static string SequentialRead(int mib) => Timed($"dd if=/dev/vda of=/dev/null bs=1M count={mib} iflag=direct || f=1");

    /// <param name="blocks">The disk's size in 4 KiB blocks: the offsets fall anywhere on it.</param>
    public static string RandomRead(int count, long blocks) => Timed(Loop(count, blocks, "dd if=/dev/vda of=/dev/null bs=4k count=1 skip=$o iflag=direct"));

    public static string RandomWrite(int count, long blocks) => Timed(Loop(count, blocks, "dd if=/dev/zero of=/dev/vda bs=4k count=1 seek=$o oflag=direct conv=fsync"));

    /// <summary>The random loop with a dd that touches no disk: the ceiling the loop itself sets.</summary>
    public static string NoDisk(int count) => Timed(Loop(count, 1, "dd if=/dev/zero of=/dev/null bs=4k count=1"));

    /// <summary>
    /// A loop that prints <c>io N</c> after a 4 KiB direct read and a 4 KiB direct write with a flush
    /// at block N, <paramref name="count"/> times, then the result line: I/O all the time, and output
    /// after each, for a kill in the middle.
    /// </summary>
    public static string Ticking(int count, long blocks) =>
        Timed($"i=0; while [ $i -lt {count} ]; do o=$((i % {blocks})); "
              + "dd if=/dev/vda of=/dev/null bs=4k count=1 skip=$o iflag=direct 2>/dev/null || f=$((f+1)); "
              + "dd if=/dev/zero of=/dev/vda bs=4k count=1 seek=$o oflag=direct conv=fsync 2>/dev/null || f=$((f+1)); "
              + "echo io $i; i=$((i+1)); done");

    /// <summary>What each line of <see cref="Ticking"/> starts with.</summary>
    public const string Tick = "io ";

    private static string Loop(int count, long blocks, string dd) =>
        $"r=1; i=0; while [ $i -lt {count} ]; do r=$(( (r*1103515245+12345) % 2147483648 )); o=$((r % {blocks})); {dd} 2>/dev/null || f=$((f+1)); i=$((i+1)); done";

    private static string Timed(string body) => $"f=0; read a x < /proc/uptime; {body}; read b x < /proc/uptime; echo @@$((6*7)) $a $b $f";

    /// <summary>What one command printed: the guest's seconds, the dd runs that failed, and for a sequential dd its whole records out.</summary>
    public sealed record Measurement(double Seconds, int Failures, long? RecordsOut);

    /// <summary>Reads a command's output (its echo included); a <see cref="FormatException"/> says what is missing.</summary>
    public static Measurement Parse(string printed)
    {
        var result = ResultLine().Match(printed);
        if (!result.Success) throw new FormatException($"no result line ('{Result}START END FAILURES') in the guest's output");
        double start = double.Parse(result.Groups[1].Value, CultureInfo.InvariantCulture), end = double.Parse(result.Groups[2].Value, CultureInfo.InvariantCulture);
        if (end < start) throw new FormatException($"the guest's clock went backwards ({start} to {end})");
        int failures = int.Parse(result.Groups[3].Value, CultureInfo.InvariantCulture);
        var records = RecordsOutLine().Matches(printed);
        long? whole = records.Count == 0 ? null : long.Parse(records[^1].Groups[1].Value, CultureInfo.InvariantCulture);
        return new Measurement(end - start, failures, whole);
    }

    /// <summary>
    /// MB/s (10^6 bytes) of a sequential dd of <paramref name="mib"/> MiB; a failed or short transfer is
    /// an <see cref="InvalidOperationException"/> naming it.
    /// </summary>
    public static double MegabytesPerSecond(Measurement m, int mib, string what)
    {
        if (m.Failures > 0 || m.RecordsOut != mib)
            throw new InvalidOperationException($"{what}: dd failed in the guest ({m.RecordsOut?.ToString(CultureInfo.InvariantCulture) ?? "no"} of {mib} records out)");
        return mib * 1048576.0 / 1e6 / Math.Max(m.Seconds, 0.01);
    }

    /// <summary>Operations per second of a loop of <paramref name="count"/>; a loop with a failed dd is an <see cref="InvalidOperationException"/>.</summary>
    public static double PerSecond(Measurement m, int count, string what)
    {
        if (m.Failures > 0) throw new InvalidOperationException($"{what}: {m.Failures} of {count} dd runs failed in the guest");
        return count / Math.Max(m.Seconds, 0.01);
    }

    [GeneratedRegex(@"(?:^|\n)@@42 (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+)\r?(?:\n|$)")]
    private static partial Regex ResultLine();

    [GeneratedRegex(@"(?:^|\n)(\d+)\+\d+ records out\r?(?:\n|$)")]
    private static partial Regex RecordsOutLine();
}
