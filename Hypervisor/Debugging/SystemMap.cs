using System.Globalization;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// Linux's <c>System.map</c> (what <c>nm -n vmlinux</c> prints, and the format of
/// <c>/proc/kallsyms</c>): one symbol a line, <c>c1d929c1 T start_kernel</c>, the address in hex,
/// the nm type letter, the name. Upper-case types are global, lower-case local, as in nm.
/// </summary>
public sealed partial class ElfSymbols
{
    /// <summary>The first words of the placeholder Debian's kernel packages ship instead of the real map.</summary>
    private const string DebianPlaceholder = "The real System.map is in";

    /// <summary>
    /// Reads a System.map. Absolute symbols (<c>A</c>: sizes and physical addresses such as
    /// <c>phys_startup_32</c>, not places in the kernel's address space) are left out, as the ELF
    /// reader leaves out SHN_ABS, and so are undefined ones (<c>U</c>). A line that is not
    /// <c>ADDRESS TYPE NAME</c> is a <see cref="FormatException"/> naming its line.
    /// </summary>
    public static ElfSymbols ParseSystemMap(string text)
    {
        var byAddress = new List<Symbol>();
        var byName = new Dictionary<string, uint>(StringComparer.Ordinal);
        var globalNames = new HashSet<string>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.IsEmpty) continue;
            if (line.Contains(DebianPlaceholder, StringComparison.Ordinal))
                throw new FormatException("this is the placeholder System.map of Debian's kernel package; the real one is in the matching linux-image-*-dbg package (Guest/Images/linux/build.sh fetches it)");
            if (!TryParseMapLine(line, out uint address, out char type, out string name, out string? why))
                throw new FormatException($"line {lineNumber}: {why} (expected ADDRESS TYPE NAME, as 'c1000000 T startup_32')");
            if (type is 'A' or 'a' or 'U' or 'u') continue;
            bool global = char.IsUpper(type);
            // Every map symbol has a type: code, data or a weak one; none is "no type" as in ELF.
            int rank = 2 + (global ? 1 : 0);
            // nm's t and T are code; W (weak) is almost always a function in a kernel.
            byAddress.Add(new Symbol(name, address, 0, rank, type is 'T' or 't' or 'W' or 'w'));
            if (!byName.ContainsKey(name) || (global && !globalNames.Contains(name)))
            {
                byName[name] = address;
                if (global) globalNames.Add(name);
            }
        }
        if (byName.Count == 0)
            throw new FormatException("the System.map holds no symbols");
        var sorted = byAddress.ToArray();
        Array.Sort(sorted, ByAddress);
        return new ElfSymbols(sorted, byName);
    }

    /// <summary>Whether a line reads as a System.map line (how a file is recognised as one).</summary>
    internal static bool IsSystemMapLine(ReadOnlySpan<char> line) => TryParseMapLine(line.Trim(), out _, out _, out _, out _);

    private static bool TryParseMapLine(ReadOnlySpan<char> line, out uint address, out char type, out string name, out string? why)
    {
        address = 0;
        type = '\0';
        name = "";
        Span<Range> fields = stackalloc Range[17];
        int count = line.SplitAny(fields, " \t", StringSplitOptions.RemoveEmptyEntries);
        // /proc/kallsyms adds the module in brackets as a fourth field.
        if (count is < 3 or > 4 || count == 4 && line[fields[3]] is not ['[', .., ']'])
        {
            why = $"'{Excerpt(line)}' has {(count > 16 ? "more than 16" : count.ToString(CultureInfo.InvariantCulture))} fields";
            return false;
        }
        var hex = line[fields[0]];
        if (!ulong.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value) || hex.Length > 16)
        {
            why = $"'{Excerpt(hex)}' is not a hexadecimal address";
            return false;
        }
        if (value > uint.MaxValue)
        {
            why = $"address {hex} does not fit in 32 bits (a 64-bit kernel's map?)";
            return false;
        }
        var letter = line[fields[1]];
        if (letter.Length != 1 || !char.IsAsciiLetter(letter[0]) && letter[0] != '?')
        {
            why = $"'{Excerpt(letter)}' is not an nm symbol type (one letter)";
            return false;
        }
        address = (uint)value;
        type = letter[0];
        name = line[fields[2]].ToString();
        why = null;
        return true;
    }

    private static string Excerpt(ReadOnlySpan<char> text) => text.Length <= 60 ? text.ToString() : text[..60].ToString() + "...";

    /// <summary>
    /// These symbols moved by <paramref name="offset"/> (wrapping at 4 GiB): a kernel that
    /// relocated itself at boot (KASLR, Debian's default) runs that far above its System.map.
    /// </summary>
    public ElfSymbols WithOffset(uint offset)
    {
        if (offset == 0) return this;
        var moved = new Symbol[_byAddress.Length];
        for (int i = 0; i < moved.Length; i++) moved[i] = _byAddress[i] with { Value = unchecked(_byAddress[i].Value + offset) };
        Array.Sort(moved, ByAddress);
        var byName = new Dictionary<string, uint>(_byName.Count, StringComparer.Ordinal);
        foreach (var (name, value) in _byName) byName[name] = unchecked(value + offset);
        return new ElfSymbols(moved, byName);
    }
}
