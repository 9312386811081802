using System.Globalization;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// A child's CPU time so far, from <c>/proc/PID/stat</c> (utime + stime), so a run can say how much
/// of a CPU each node used over the measured load and over an idle stretch.
/// </summary>
public static class ProcessCpu
{
    /// <summary>Linux reports stat times in USER_HZ, which is 100 on every architecture .NET runs on.</summary>
    private const double TicksPerSecond = 100;

    /// <summary>User plus system CPU seconds of process <paramref name="pid"/>, or null where /proc does not have it (exited, not Linux).</summary>
    public static double? Seconds(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // f[0] is field 3 (state); utime and stime are fields 14 and 15.
            return (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>The share of one CPU <paramref name="pid"/> used between two readings taken <paramref name="wallMs"/> apart, in percent.</summary>
    public static double? Percent(double? before, double? after, double wallMs) =>
        before is { } a && after is { } b && wallMs > 0 ? (b - a) * 1000 / wallMs * 100 : null;
}
