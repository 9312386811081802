using Iced.Intel;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// Guest code as people read it, the same wherever the hypervisor shows an instruction (the
/// debugger's listings and stops, a diff's next and last instructions): Iced's NASM syntax with
/// lower-case 0x hex, branch targets and addresses named by the image's symbols when there are any.
/// Not thread-safe: one per user.
/// </summary>
public sealed class GuestDisassembler : ISymbolResolver
{
    public const int MaxInstructionLength = 15;

    private readonly ElfSymbols _symbols;
    private readonly NasmFormatter _formatter;
    private readonly StringOutput _text = new();
    private bool _resolveSymbols;

    public GuestDisassembler(ElfSymbols? symbols = null)
    {
        _symbols = symbols ?? ElfSymbols.Empty;
        _formatter = new NasmFormatter(this);
        _formatter.Options.UppercaseHex = false;
        _formatter.Options.HexPrefix = "0x";
        _formatter.Options.HexSuffix = null;
        _formatter.Options.SpaceAfterOperandSeparator = true;
        _formatter.Options.ShowSymbolAddress = false;
    }

    /// <summary>32 when the CPU runs 32-bit code (protected mode, a 32-bit code segment, not virtual-8086), else 16.</summary>
    public static int CodeBitness(Cpu cpu) =>
        cpu.ProtectedMode && cpu.GetSegment(SegmentRegister.CS).Big && (cpu.Eflags & (1u << 17)) == 0 ? 32 : 16;

    /// <summary>
    /// The instruction at <paramref name="linear"/> as the CPU would run it, decoded with the linear
    /// address as its IP; null if its first byte is unmapped or it is not a valid instruction.
    /// </summary>
    public static Instruction? DecodeAt(Cpu cpu, uint linear)
    {
        Span<byte> bytes = stackalloc byte[MaxInstructionLength];
        int n = ReadUpTo(cpu, linear, bytes);
        if (n == 0) return null;
        var decoder = Iced.Intel.Decoder.Create(CodeBitness(cpu), bytes[..n].ToArray());
        decoder.IP = linear;
        decoder.Decode(out var instruction);
        return instruction.IsInvalid ? null : instruction;
    }

    /// <summary>
    /// The text of <paramref name="instruction"/>. Symbols name 32-bit addresses only: the images'
    /// symbols are flat 32-bit addresses, 16-bit operands (BIOS, real mode) stay numbers.
    /// </summary>
    public string Format(in Instruction instruction, bool code32)
    {
        if (instruction.IsInvalid) return "(bad)";
        _resolveSymbols = code32;
        _formatter.Format(instruction, _text);
        return _text.ToStringAndReset();
    }

    /// <summary>The instruction at CS:EIP, as "CS:EIP  bytes  mnemonic operands" (and whether the CPU is halted there).</summary>
    public string DescribeCurrent(Cpu cpu)
    {
        var cs = cpu.GetSegment(SegmentRegister.CS);
        uint eip = cpu.Eip;
        int bitness = CodeBitness(cpu);
        uint linear = cs.Base + eip;
        string where = bitness == 32 ? $"{cs.Selector:X4}:{eip:X8}" : $"{cs.Selector:X4}:{eip:X4}";
        byte[] bytes = new byte[MaxInstructionLength];
        int n = ReadUpTo(cpu, linear, bytes);
        if (n == 0) return $"{where}  (not mapped)";
        var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(bytes, 0, n));
        decoder.IP = eip;
        decoder.Decode(out var instruction);
        if (instruction.IsInvalid) return $"{where}  {Convert.ToHexString(bytes, 0, Math.Min(n, 8))}...  (not a valid instruction)";
        string halted = cpu.Halted ? "  (halted)" : "";
        return $"{where}  {Convert.ToHexString(bytes, 0, instruction.Length),-16}  {Format(instruction, bitness == 32)}{halted}";
    }

    /// <summary>Reads as many bytes from <paramref name="linear"/> as are mapped (an instruction may end near an unmapped page).</summary>
    private static int ReadUpTo(Cpu cpu, uint linear, Span<byte> bytes)
    {
        int n = bytes.Length;
        while (n > 0 && !cpu.TryReadLinear(linear, bytes[..n])) n--;
        return n;
    }

    bool ISymbolResolver.TryGetSymbol(in Instruction instruction, int operand, int instructionOperand, ulong address, int addressSize, out SymbolResult symbol)
    {
        if (_resolveSymbols && address <= uint.MaxValue && _symbols.TryDescribe((uint)address, out string name, out uint offset))
        {
            symbol = new SymbolResult(address - offset, name);
            return true;
        }
        symbol = default;
        return false;
    }
}
