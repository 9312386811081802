using Iced.Intel;

namespace VmFt.Guest.Processor;

// The handler table: one entry per Iced Code. Each instruction family registers its forms in its
// own Register* method; forms nobody registers raise #UD (logged once per address).
public sealed unsafe partial class Cpu
{
    internal static readonly delegate*<Cpu, ref DecodedInstruction, void>[] Handlers = BuildHandlers();

    private static delegate*<Cpu, ref DecodedInstruction, void>[] BuildHandlers()
    {
        var table = new delegate*<Cpu, ref DecodedInstruction, void>[Enum.GetValues<Code>().Length];
        RegisterArithmetic(table);
        RegisterFamilies(table);
        return table;
    }

    /// <summary>Registration hook for the families in other files (each adds one call here).</summary>
    static partial void RegisterMore(delegate*<Cpu, ref DecodedInstruction, void>[] table);

    private static void RegisterFamilies(delegate*<Cpu, ref DecodedInstruction, void>[] table) => RegisterMore(table);

    /// <summary>Looks a form up by its Iced name (e.g. "Add_rm32_r32"); a typo fails at start-up, loudly.</summary>
    internal static Code CodeOf(string name) => Enum.Parse<Code>(name);

    internal static void Set(delegate*<Cpu, ref DecodedInstruction, void>[] table, string name, delegate*<Cpu, ref DecodedInstruction, void> handler)
        => table[(int)CodeOf(name)] = handler;
}
