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
        RegisterDataTransfer(table);
        RegisterShifts(table);
        RegisterMultiplyDivide(table);
        RegisterDecimal(table);
        RegisterBits(table);
        RegisterStrings(table);
        RegisterControlFlow(table);
        RegisterInputOutput(table);
        RegisterFlagOps(table);
        RegisterFarTransfers(table);
        RegisterSystem(table);
        return table;
    }

    // One registration method per family, each implemented in the family's own file.
    static partial void RegisterDataTransfer(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterShifts(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterMultiplyDivide(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterDecimal(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterBits(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterStrings(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterControlFlow(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterInputOutput(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterFlagOps(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterFarTransfers(delegate*<Cpu, ref DecodedInstruction, void>[] table);
    static partial void RegisterSystem(delegate*<Cpu, ref DecodedInstruction, void>[] table);

    /// <summary>Looks a form up by its Iced name (e.g. "Add_rm32_r32"); a typo fails at start-up, loudly.</summary>
    internal static Code CodeOf(string name) => Enum.Parse<Code>(name);

    internal static void Set(delegate*<Cpu, ref DecodedInstruction, void>[] table, string name, delegate*<Cpu, ref DecodedInstruction, void> handler)
        => table[(int)CodeOf(name)] = handler;
}
