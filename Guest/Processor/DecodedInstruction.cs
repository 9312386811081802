using System.Runtime.InteropServices;

namespace VmFt.Guest.Processor;

/// <summary>
/// One instruction as the interpreter runs it: decoded once by Iced, flattened into the fields the
/// handlers need, and kept in the decoded-instruction cache. Nothing here depends on where the
/// instruction sits in linear memory (branches keep their displacement, not their target), so one
/// physical copy serves every mapping of it.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct DecodedInstruction
{
    /// <summary>The handler that executes it.</summary>
    internal delegate*<Cpu, ref DecodedInstruction, void> Handler;
    /// <summary>Memory displacement (16-bit addressing: the 16-bit value).</summary>
    internal uint Disp;
    /// <summary>First immediate, sign- or zero-extended as the instruction defines; for near branches the displacement from the next instruction; for far pointers the offset.</summary>
    internal uint Imm;
    /// <summary>Second immediate: ENTER's nesting level, a far pointer's selector.</summary>
    internal uint Imm2;
    /// <summary>Iced's <c>Code</c>: which form this is.</summary>
    internal ushort Code;
    internal byte Length;
    /// <summary>Register operands 0..2 by encoding index (8-bit: 4..7 are AH..BH; segment, control and debug registers by number); <see cref="NoReg"/> if that operand is not a register.</summary>
    internal byte R0, R1, R2;
    /// <summary>Memory operand: base and index register (index <see cref="Cpu.Zero"/> when absent), scale as a shift.</summary>
    internal byte Base, Index, Scale;
    /// <summary>Effective segment of the memory operand (after overrides), or of the source of string instructions.</summary>
    internal byte Segment;
    internal DecodedFlags Flags;
    /// <summary>Whether the cached decoding was made with a 32-bit code segment.</summary>
    internal bool Decoded32;

    internal const byte NoReg = 0xFF;

    internal readonly bool HasMemory => (Flags & DecodedFlags.Memory) != 0;
    internal readonly bool OpSize32 => (Flags & DecodedFlags.OpSize32) != 0;
    internal readonly bool AddrSize32 => (Flags & DecodedFlags.AddrSize32) != 0;
}

[Flags]
internal enum DecodedFlags : byte
{
    None = 0,
    /// <summary>One operand is a ModRM memory operand.</summary>
    Memory = 1,
    OpSize32 = 2,
    AddrSize32 = 4,
    Rep = 8,
    Repne = 16,
    Lock = 32,
}
