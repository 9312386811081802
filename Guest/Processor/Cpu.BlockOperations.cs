using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// What compiled blocks call for the forms they run inline (Cpu.BlockCompiler.cs): each is its
// interpreter handler with the decoded fields (register numbers, segment, effective address, the
// immediate) passed as arguments that the block's IL gives as constants, so RyuJIT inlines the
// method and folds them. Memory goes through the interpreter's own accessors: the software TLB's
// hit is inline, a miss takes ReadLinearSlow/WriteLinearSlow (page walk, MMIO, faults, stores into
// decoded code), which set _slowAccess so that the block checks, after that one instruction,
// whether it may go on.
public sealed unsafe partial class Cpu
{
    /// <summary>Set by the slow memory paths; a block clears it when it checks what the access may have changed.</summary>
    internal bool _slowAccess;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint BlockRead<W>(Cpu c, int seg, uint ea) where W : struct, IOperandWidth
        => W.ReadLinear(c, c.LinearRead(seg, ea, (uint)W.Bits / 8));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint BlockGetReg<W>(Cpu c, int reg) where W : struct, IOperandWidth => W.GetReg(c, reg);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockSetReg<W>(Cpu c, int reg, uint value) where W : struct, IOperandWidth => W.SetReg(c, reg, value);

    /// <summary>MOV reg, [m].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockMovLoad<W>(Cpu c, int dst, int seg, uint ea) where W : struct, IOperandWidth
        => W.SetReg(c, dst, BlockRead<W>(c, seg, ea));

    /// <summary>MOV [m], reg / imm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockMovStore<W>(Cpu c, int seg, uint ea, uint value) where W : struct, IOperandWidth
        => W.WriteLinear(c, c.LinearWrite(seg, ea, (uint)W.Bits / 8), value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockMovzx<WD, WS>(Cpu c, int dst, bool mem, int seg, uint ea, int src) where WD : struct, IOperandWidth where WS : struct, IOperandWidth
        => WD.SetReg(c, dst, mem ? BlockRead<WS>(c, seg, ea) : WS.GetReg(c, src));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockMovsx<WD, WS>(Cpu c, int dst, bool mem, int seg, uint ea, int src) where WD : struct, IOperandWidth where WS : struct, IOperandWidth
    {
        uint v = mem ? BlockRead<WS>(c, seg, ea) : WS.GetReg(c, src);
        if ((v & WS.Sign) != 0) v |= ~WS.Mask;
        WD.SetReg(c, dst, v & WD.Mask);
    }

    /// <summary>op r/m, b (AluRm): read-modify-write of memory, a read for CMP/TEST, or register <paramref name="reg"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockAluRm<Op, W>(Cpu c, bool mem, int seg, uint ea, int reg, uint b) where Op : struct, IAluOp where W : struct, IOperandWidth
    {
        if (mem)
        {
            if (Op.Writes)
            {
                c.LinearRead(seg, ea, (uint)W.Bits / 8);
                uint lin = c.LinearWrite(seg, ea, (uint)W.Bits / 8);
                uint r = Op.Apply<W>(c, W.ReadLinear(c, lin), b);
                W.WriteLinear(c, lin, r);
            }
            else
            {
                Op.Apply<W>(c, BlockRead<W>(c, seg, ea), b);
            }
        }
        else
        {
            uint r = Op.Apply<W>(c, W.GetReg(c, reg), b);
            if (Op.Writes) W.SetReg(c, reg, r);
        }
    }

    /// <summary>op reg, r/m (AluRegRm).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockAluRegRm<Op, W>(Cpu c, int dst, bool mem, int seg, uint ea, int src) where Op : struct, IAluOp where W : struct, IOperandWidth
    {
        uint b = mem ? BlockRead<W>(c, seg, ea) : W.GetReg(c, src);
        uint r = Op.Apply<W>(c, W.GetReg(c, dst), b);
        if (Op.Writes) W.SetReg(c, dst, r);
    }

    /// <summary>INC/DEC r/m (IncDec): CF survives.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockIncDec<W>(Cpu c, bool inc, bool mem, int seg, uint ea, int reg) where W : struct, IOperandWidth
    {
        uint carry = c._flags & CF;
        if (mem)
        {
            c.LinearRead(seg, ea, (uint)W.Bits / 8);
            uint lin = c.LinearWrite(seg, ea, (uint)W.Bits / 8);
            uint v = W.ReadLinear(c, lin);
            uint r = inc ? c.AddWithFlags<W>(v, 1, 0) : c.SubWithFlags<W>(v, 1, 0);
            W.WriteLinear(c, lin, r);
        }
        else
        {
            uint v = W.GetReg(c, reg);
            uint r = inc ? c.AddWithFlags<W>(v, 1, 0) : c.SubWithFlags<W>(v, 1, 0);
            W.SetReg(c, reg, r);
        }
        c._flags = (c._flags & ~CF) | carry;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockPush32(Cpu c, int reg) => c.Push32(c.R[reg]);

    /// <summary>POP reg: the popped value wins over the increment when the register is ESP.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockPop32(Cpu c, int reg)
    {
        uint v = c.Pop32();
        c.R[reg] = v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BlockJmpRm32(Cpu c, bool mem, int seg, uint ea, int reg)
        => c.JumpNear(mem ? BlockRead<W32>(c, seg, ea) : c.R[reg], true);
}
