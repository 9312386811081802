using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// The stack: SS.B decides whether ESP or SP is the pointer. Pushes write before they move the
// pointer, so a faulting push leaves ESP as it was.
public sealed unsafe partial class Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Push32(uint value)
    {
        uint sp = R[ESP];
        if (S[(int)SegmentRegister.SS].Big)
        {
            Write32((int)SegmentRegister.SS, sp - 4, value);
            R[ESP] = sp - 4;
        }
        else
        {
            ushort nsp = (ushort)(sp - 4);
            Write32((int)SegmentRegister.SS, nsp, value);
            R[ESP] = (sp & 0xFFFF_0000) | nsp;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Push16(ushort value)
    {
        uint sp = R[ESP];
        if (S[(int)SegmentRegister.SS].Big)
        {
            Write16((int)SegmentRegister.SS, sp - 2, value);
            R[ESP] = sp - 2;
        }
        else
        {
            ushort nsp = (ushort)(sp - 2);
            Write16((int)SegmentRegister.SS, nsp, value);
            R[ESP] = (sp & 0xFFFF_0000) | nsp;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint Pop32()
    {
        uint sp = R[ESP];
        if (S[(int)SegmentRegister.SS].Big)
        {
            uint v = Read32((int)SegmentRegister.SS, sp);
            R[ESP] = sp + 4;
            return v;
        }
        else
        {
            uint v = Read32((int)SegmentRegister.SS, sp & 0xFFFF);
            R[ESP] = (sp & 0xFFFF_0000) | (ushort)(sp + 4);
            return v;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ushort Pop16()
    {
        uint sp = R[ESP];
        if (S[(int)SegmentRegister.SS].Big)
        {
            ushort v = Read16((int)SegmentRegister.SS, sp);
            R[ESP] = sp + 2;
            return v;
        }
        else
        {
            ushort v = Read16((int)SegmentRegister.SS, sp & 0xFFFF);
            R[ESP] = (sp & 0xFFFF_0000) | (ushort)(sp + 2);
            return v;
        }
    }

    /// <summary>Pushes 2 or 4 bytes as the operand size says.</summary>
    internal void Push(uint value, bool size32)
    {
        if (size32) Push32(value);
        else Push16((ushort)value);
    }

    internal uint Pop(bool size32) => size32 ? Pop32() : Pop16();

    /// <summary>Reads the stack at ESP + <paramref name="offset"/> without popping (for IRET and far RET checks).</summary>
    internal uint PeekStack(uint offset, bool size32)
    {
        uint sp = R[ESP];
        uint address = S[(int)SegmentRegister.SS].Big ? sp + offset : (ushort)(sp + offset);
        return size32 ? Read32((int)SegmentRegister.SS, address) : Read16((int)SegmentRegister.SS, address);
    }

    /// <summary>Adds to the stack pointer, honouring SS.B.</summary>
    internal void AdjustStack(uint delta)
    {
        uint sp = R[ESP];
        R[ESP] = S[(int)SegmentRegister.SS].Big ? sp + delta : (sp & 0xFFFF_0000) | (ushort)(sp + delta);
    }
}
