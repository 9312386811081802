using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// Operand access shared by every instruction family.
//
// Rule for handlers: do every memory access that can fault before changing any register other
// than EIP, ESP and EFLAGS (those three are restored by the loop when an instruction faults).
public sealed unsafe partial class Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte GetReg8(int index) => index < 4 ? (byte)R[index] : (byte)(R[index - 4] >> 8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetReg8(int index, byte value)
    {
        if (index < 4) R[index] = (R[index] & 0xFFFF_FF00) | value;
        else R[index - 4] = (R[index - 4] & 0xFFFF_00FF) | ((uint)value << 8);
    }

    /// <summary>Effective address (offset within the segment) of the instruction's memory operand.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint Ea(ref DecodedInstruction d)
    {
        uint ea = R[d.Base] + (R[d.Index] << d.Scale) + d.Disp;
        return d.AddrSize32 ? ea : ea & 0xFFFF;
    }

    /// <summary>Reads the ModRM r/m operand: memory, or the register <paramref name="reg"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint ReadRm<W>(ref DecodedInstruction d, int reg) where W : struct, IOperandWidth
    {
        if (d.HasMemory)
            return W.ReadLinear(this, LinearRead(d.Segment, Ea(ref d), (uint)W.Bits / 8));
        return W.GetReg(this, reg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteRm<W>(ref DecodedInstruction d, int reg, uint value) where W : struct, IOperandWidth
    {
        if (d.HasMemory)
            W.WriteLinear(this, LinearWrite(d.Segment, Ea(ref d), (uint)W.Bits / 8), value);
        else
            W.SetReg(this, reg, value);
    }

    /// <summary>Linear address of the memory operand, checked for a read-modify-write.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint RmwLinear<W>(ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint ea = Ea(ref d);
        LinearRead(d.Segment, ea, (uint)W.Bits / 8);
        return LinearWrite(d.Segment, ea, (uint)W.Bits / 8);
    }

    /// <summary>Sets EIP for a near jump to <paramref name="target"/>, masking to 16 bits for 16-bit operand size, with the CS limit check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void JumpNear(uint target, bool size32)
    {
        if (!size32) target &= 0xFFFF;
        if (target > S[(int)SegmentRegister.CS].ValidHigh) throw new CpuFault(ExceptionVectors.GeneralProtection, 0, true);
        _eip = target;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal static void ThrowFault(int vector, uint errorCode = 0)
        => throw new CpuFault(vector, errorCode, ExceptionVectors.HasErrorCode(vector));

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal static void InvalidOpcode() => throw new CpuFault(ExceptionVectors.InvalidOpcode, 0, false);
}
