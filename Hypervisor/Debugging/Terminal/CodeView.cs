using Iced.Intel;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Debugging.Terminal;

/// <summary>Listings of guest memory for the terminal debugger, in the one syntax of <see cref="GuestDisassembler"/>.</summary>
internal sealed class CodeView(ReplaySession session, ElfSymbols symbols)
{
    private const int PageSize = 4096;

    private readonly GuestDisassembler _disassembler = new(symbols);

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
        var cpu = session.Cpu;
        var cs = cpu.GetSegment(SegmentRegister.CS);
        bool code32 = GuestDisassembler.CodeBitness(cpu) == 32;
        var bytes = new byte[Math.Min(count, 4096) * GuestDisassembler.MaxInstructionLength];
        int readable = ReadReadable(linear, bytes);
        var lines = new List<Line>(count);
        if (readable == 0) return lines;
        // In 16-bit code IP is an offset in CS; branch targets are computed on it and shown as linear.
        ulong ip = code32 ? linear : (linear - cs.Base) & 0xFFFF;
        var decoder = Iced.Intel.Decoder.Create(code32 ? 32 : 16, new ByteArrayCodeReader(bytes, 0, readable), ip);
        uint at = linear;
        for (int i = 0; i < count; i++)
        {
            decoder.Decode(out Instruction instruction);
            if (decoder.LastError == DecoderError.NoMoreBytes) break;
            int offset = (int)(at - linear);
            lines.Add(new Line(at, instruction.Length, bytes.AsSpan(offset, instruction.Length).ToArray(), _disassembler.Format(instruction, code32)));
            at += (uint)instruction.Length;
        }
        return lines;
    }

    /// <summary>Fills as much of <paramref name="buffer"/> as is mapped, page by page; returns how much.</summary>
    private int ReadReadable(uint linear, byte[] buffer)
    {
        if (session.ReadMemory(linear, buffer)) return buffer.Length;
        int done = 0;
        while (done < buffer.Length)
        {
            uint at = linear + (uint)done;
            int chunk = Math.Min(buffer.Length - done, PageSize - (int)(at & (PageSize - 1)));
            if (!session.ReadMemory(at, buffer.AsSpan(done, chunk))) break;
            done += chunk;
        }
        return done;
    }
}
