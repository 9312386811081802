using System.Globalization;

namespace VmFt.Hypervisor.Cli;

/// <summary>Parses sizes as QEMU's <c>-m</c> does: a number of bytes with an optional K, M or G suffix.</summary>
public static class SizeParser
{
    public static ulong Parse(string text, string flag)
    {
        string t = text.Trim();
        ulong multiplier = 1;
        if (t.Length > 0)
        {
            char suffix = char.ToUpperInvariant(t[^1]);
            multiplier = suffix switch { 'K' => 1UL << 10, 'M' => 1UL << 20, 'G' => 1UL << 30, _ => 1 };
            if (multiplier != 1) t = t[..^1];
            else if (t.EndsWith("iB", StringComparison.OrdinalIgnoreCase) || t.EndsWith('B'))
                throw new UsageException($"{flag}: '{text}' is not a size (use a number with K, M or G, e.g. 64M)");
        }
        if (!ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n > ulong.MaxValue / multiplier)
            throw new UsageException($"{flag}: '{text}' is not a size (use a number with K, M or G, e.g. 64M)");
        return n * multiplier;
    }

    /// <summary>Guest RAM: at least 1 MiB, at most 3 GiB (the top GiB holds ROM and devices), whole 4 KiB pages.</summary>
    public static uint ParseRam(string text)
    {
        ulong bytes = Parse(text, "--mem");
        if (bytes < 1UL << 20) throw new UsageException($"--mem: {text} is too small (at least 1M)");
        if (bytes > 3UL << 30) throw new UsageException($"--mem: {text} is too large (at most 3G)");
        if (bytes % 4096 != 0) throw new UsageException($"--mem: {text} is not a whole number of 4 KiB pages");
        return (uint)bytes;
    }
}
