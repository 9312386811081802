using Iced.Intel;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Debugging.Terminal;

/// <summary>Disassembles guest memory with Iced's NASM formatter, naming branch targets and addresses by the image's symbols.</summary>
internal sealed class CodeView : ISymbolResolver
{
    private const int MaxInstructionLength = 15;
    private const int PageSize = 4096;

    private readonly ReplaySession _session;
    private readonly ElfSymbols _symbols;
    private readonly NasmFormatter _formatter;
    private readonly StringOutput _text = new();

    public CodeView(ReplaySession session, ElfSymbols symbols)
    {
        _session = session;
        _symbols = symbols;
        _formatter = new NasmFormatter(this);
        _formatter.Options.UppercaseHex = false;
        _formatter.Options.HexPrefix = "0x";
        _formatter.Options.HexSuffix = null;
        _formatter.Options.SpaceAfterOperandSeparator = true;
        _formatter.Options.ShowSymbolAddress = false;
    }

    public readonly record struct Line(uint Address, int Length, byte[] Bytes, string Text);

    /// <summary>The instruction at a linear address, or null when its bytes cannot be read.</summary>
    public string? DecodeOne(uint linear, out int length)
    {
        var lines = Disassemble(linear, 1);
        length = lines.Count == 1 ? lines[0].Length : 0;
        return lines.Count == 1 ? lines[0].Text : null;
    }

    /// <summary>Up to <paramref name="count"/> instructions from <paramref name="linear"/>, as the CPU's current code segment would run them.</summary>
    public List<Line> Disassemble(uint linear, int count)
    {
        var cpu = _session.Cpu;
        var cs = cpu.GetSegment(SegmentRegister.CS);
        bool code32 = cpu.ProtectedMode && cs.Big && (cpu.Eflags & (1u << 17)) == 0;
        var bytes = new byte[Math.Min(count, 4096) * MaxInstructionLength];
        int readable = ReadReadable(linear, bytes);
        var lines = new List<Line>(count);
        if (readable == 0) return lines;
        // In 16-bit code IP is an offset in CS; branch targets are computed on it and shown as linear.
        ulong ip = code32 ? linear : (linear - cs.Base) & 0xFFFF;
        var decoder = Iced.Intel.Decoder.Create(code32 ? 32 : 16, new ByteArrayCodeReader(bytes, 0, readable), ip);
        _resolveSymbols = code32;
        uint at = linear;
        for (int i = 0; i < count; i++)
        {
            decoder.Decode(out Instruction instruction);
            if (decoder.LastError == DecoderError.NoMoreBytes) break;
            string text;
            if (instruction.IsInvalid) text = "(bad)";
            else
            {
                _formatter.Format(instruction, _text);
                text = _text.ToStringAndReset();
            }
            int offset = (int)(at - linear);
            lines.Add(new Line(at, instruction.Length, bytes.AsSpan(offset, instruction.Length).ToArray(), text));
            at += (uint)instruction.Length;
        }
        return lines;
    }

    // The images' symbols are flat 32-bit addresses; 16-bit operands (BIOS, real mode) are left as numbers.
    private bool _resolveSymbols;

    /// <summary>Fills as much of <paramref name="buffer"/> as is mapped, page by page; returns how much.</summary>
    private int ReadReadable(uint linear, byte[] buffer)
    {
        if (_session.ReadMemory(linear, buffer)) return buffer.Length;
        int done = 0;
        while (done < buffer.Length)
        {
            uint at = linear + (uint)done;
            int chunk = Math.Min(buffer.Length - done, PageSize - (int)(at & (PageSize - 1)));
            if (!_session.ReadMemory(at, buffer.AsSpan(done, chunk))) break;
            done += chunk;
        }
        return done;
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
