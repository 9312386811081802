using System.Globalization;
using System.Text.RegularExpressions;

namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>gdb's batch output cut into sections at <c>echo @@name\n</c> markers, with the bits the tests compare.</summary>
internal sealed partial class GdbTranscript(string text)
{
    public string Text { get; } = text;

    /// <summary>gdb commands that print a marker line.</summary>
    public static string Mark(string name) => $"echo @@{name}\\n";

    public string Section(string name)
    {
        int start = Text.IndexOf($"@@{name}\n", StringComparison.Ordinal);
        if (start < 0) throw new InvalidOperationException($"no section {name} in:\n{Text}");
        start += name.Length + 3;
        int end = Text.IndexOf("@@", start, StringComparison.Ordinal);
        return end < 0 ? Text[start..] : Text[start..end];
    }

    /// <summary>The position printed by <c>monitor when</c> in a section.</summary>
    public ulong Position(string name)
    {
        var m = PositionPattern().Match(Section(name));
        if (!m.Success) throw new InvalidOperationException($"no position in section {name}:\n{Text}");
        return ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Registers printed by <c>info registers</c> in a section: name → value.</summary>
    public Dictionary<string, uint> Registers(string name)
    {
        var result = new Dictionary<string, uint>();
        foreach (Match m in RegisterPattern().Matches(Section(name)))
            result[m.Groups[1].Value] = uint.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if (result.Count < 10) throw new InvalidOperationException($"no registers in section {name}:\n{Text}");
        return result;
    }

    public static uint Hex(string text) => uint.Parse(text.StartsWith("0x") ? text[2..] : text, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"position (\d+) of")]
    private static partial Regex PositionPattern();

    [GeneratedRegex(@"^(e[a-z]{2}|eflags|[c-gs]s)\s+0x([0-9a-f]+)", RegexOptions.Multiline)]
    private static partial Regex RegisterPattern();
}
