using System.Buffers.Binary;

namespace VmFt.Guest.Processor;

// MOV (all forms, incl. segment registers), MOVZX/MOVSX, XCHG, XADD, CMPXCHG, CMPXCHG8B, BSWAP,
// LEA, PUSH/POP (incl. segment registers), PUSHA/POPA, ENTER/LEAVE, LDS/LES/LFS/LGS/LSS,
// CBW/CWDE/CWD/CDQ, LAHF/SAHF, XLAT and the NOPs.
public sealed unsafe partial class Cpu
{
    // ---- MOV ------------------------------------------------------------------------------------

    /// <summary>MOV r/m, reg (also moffs, AL/AX/EAX: the memory operand carries the displacement).</summary>
    private static void MovRmReg<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
        => c.WriteRm<W>(ref d, d.R0, W.GetReg(c, d.R1));

    /// <summary>MOV reg, r/m (also AL/AX/EAX, moffs).</summary>
    private static void MovRegRm<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
        => W.SetReg(c, d.R0, c.ReadRm<W>(ref d, d.R1));

    /// <summary>MOV r/m, imm and MOV reg, imm.</summary>
    private static void MovRmImm<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
        => c.WriteRm<W>(ref d, d.R0, d.Imm & W.Mask);

    /// <summary>MOV Sreg, r/m16 (a 32-bit register source gives its low word). CS is not a valid destination.</summary>
    private static void MovSregRm(Cpu c, ref DecodedInstruction d)
    {
        int seg = d.R0;
        if (seg == (int)SegmentRegister.CS || seg > 5) InvalidOpcode();
        ushort selector = (ushort)c.ReadRm<W16>(ref d, d.R1);
        c.LoadSegment(seg, selector);
        // Loading SS holds interrupts off until the next instruction (the one that loads ESP) ends.
        if (seg == (int)SegmentRegister.SS) c._interruptShadow = true;
    }

    /// <summary>MOV r/m16, Sreg: memory gets 16 bits; a register gets the selector in its low word.</summary>
    private static void MovRm16Sreg(Cpu c, ref DecodedInstruction d)
    {
        if (d.R1 > 5) InvalidOpcode();
        c.WriteRm<W16>(ref d, d.R0, c.S[d.R1].Selector);
    }

    /// <summary>MOV r32/m16, Sreg: memory still gets 16 bits; a 32-bit register gets the zero-extended selector.</summary>
    private static void MovR32M16Sreg(Cpu c, ref DecodedInstruction d)
    {
        if (d.R1 > 5) InvalidOpcode();
        ushort selector = c.S[d.R1].Selector;
        if (d.HasMemory) c.WriteRm<W16>(ref d, 0, selector);
        else c.R[d.R0] = selector;
    }

    /// <summary>MOVZX reg, r/m (narrower source).</summary>
    private static void Movzx<WD, WS>(Cpu c, ref DecodedInstruction d) where WD : struct, IOperandWidth where WS : struct, IOperandWidth
        => WD.SetReg(c, d.R0, c.ReadRm<WS>(ref d, d.R1));

    /// <summary>MOVSX reg, r/m (narrower source).</summary>
    private static void Movsx<WD, WS>(Cpu c, ref DecodedInstruction d) where WD : struct, IOperandWidth where WS : struct, IOperandWidth
    {
        uint v = c.ReadRm<WS>(ref d, d.R1);
        if ((v & WS.Sign) != 0) v |= ~WS.Mask;
        WD.SetReg(c, d.R0, v & WD.Mask);
    }

    // ---- exchanges ----------------------------------------------------------------------------

    /// <summary>XCHG r/m, reg (and XCHG reg, AX/EAX: both operands are registers).</summary>
    private static void Xchg<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint b = W.GetReg(c, d.R1);
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            uint a = W.ReadLinear(c, lin);
            W.WriteLinear(c, lin, b);
            W.SetReg(c, d.R1, a);
        }
        else
        {
            uint a = W.GetReg(c, d.R0);
            W.SetReg(c, d.R0, b);
            W.SetReg(c, d.R1, a);
        }
    }

    /// <summary>XADD r/m, reg: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP.</summary>
    private static void Xadd<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint src = W.GetReg(c, d.R1);
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            uint dest = W.ReadLinear(c, lin);
            uint sum = c.AddWithFlags<W>(dest, src, 0);
            W.WriteLinear(c, lin, sum);
            W.SetReg(c, d.R1, dest);
        }
        else
        {
            uint dest = W.GetReg(c, d.R0);
            uint sum = c.AddWithFlags<W>(dest, src, 0);
            W.SetReg(c, d.R1, dest);
            W.SetReg(c, d.R0, sum);
        }
    }

    /// <summary>
    /// CMPXCHG r/m, reg: flags as CMP accumulator, destination. A memory destination is always
    /// written (with its own value when the comparison fails), as the processor's locked cycle does.
    /// </summary>
    private static void Cmpxchg<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint src = W.GetReg(c, d.R1);
        uint acc = W.GetReg(c, EAX);
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            uint dest = W.ReadLinear(c, lin);
            c.SubWithFlags<W>(acc, dest, 0);
            bool equal = acc == dest;
            W.WriteLinear(c, lin, equal ? src : dest);
            if (!equal) W.SetReg(c, EAX, dest);
        }
        else
        {
            uint dest = W.GetReg(c, d.R0);
            c.SubWithFlags<W>(acc, dest, 0);
            if (acc == dest) W.SetReg(c, d.R0, src);
            else W.SetReg(c, EAX, dest);
        }
    }

    /// <summary>CMPXCHG8B m64: compares EDX:EAX with the quadword; only ZF changes.</summary>
    private static void Cmpxchg8b(Cpu c, ref DecodedInstruction d)
    {
        if (!d.HasMemory) InvalidOpcode();
        uint ea = c.Ea(ref d);
        uint hiEa = d.AddrSize32 ? ea + 4 : (ea + 4) & 0xFFFF;
        uint loLin = c.RmwLinear<W32>(ref d);
        c.LinearRead(d.Segment, hiEa, 4);
        uint hiLin = c.LinearWrite(d.Segment, hiEa, 4);
        uint lo = c.ReadLinear32(loLin), hi = c.ReadLinear32(hiLin);
        bool equal = lo == c.R[EAX] && hi == c.R[EDX];
        if (equal)
        {
            c.WriteLinear32(loLin, c.R[EBX]);
            c.WriteLinear32(hiLin, c.R[ECX]);
            c._flags |= ZF;
        }
        else
        {
            c.WriteLinear32(loLin, lo);
            c.WriteLinear32(hiLin, hi);
            c.R[EAX] = lo;
            c.R[EDX] = hi;
            c._flags &= ~ZF;
        }
    }

    private static void Bswap32(Cpu c, ref DecodedInstruction d) => c.R[d.R0] = BinaryPrimitives.ReverseEndianness(c.R[d.R0]);

    /// <summary>BSWAP r16 is undefined; Intel processors leave 0 in the low word, and so do we.</summary>
    private static void Bswap16(Cpu c, ref DecodedInstruction d) => c.R[d.R0] &= 0xFFFF_0000;

    /// <summary>LEA: the effective address at the address size, truncated to the operand size.</summary>
    private static void Lea<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (!d.HasMemory) InvalidOpcode();
        W.SetReg(c, d.R0, c.Ea(ref d) & W.Mask);
    }

    private static void Nop(Cpu c, ref DecodedInstruction d) { }

    // ---- stack ----------------------------------------------------------------------------------

    private static void PushReg16(Cpu c, ref DecodedInstruction d) => c.Push16((ushort)c.R[d.R0]);
    private static void PushReg32(Cpu c, ref DecodedInstruction d) => c.Push32(c.R[d.R0]);
    private static void PushRm16(Cpu c, ref DecodedInstruction d) => c.Push16((ushort)c.ReadRm<W16>(ref d, d.R0));
    private static void PushRm32(Cpu c, ref DecodedInstruction d) => c.Push32(c.ReadRm<W32>(ref d, d.R0));
    private static void PushImm16(Cpu c, ref DecodedInstruction d) => c.Push16((ushort)d.Imm);
    private static void PushImm32(Cpu c, ref DecodedInstruction d) => c.Push32(d.Imm);

    // POP reg: the popped value wins over the increment when the register is (E)SP.
    private static void PopReg16(Cpu c, ref DecodedInstruction d)
    {
        ushort v = c.Pop16();
        W16.SetReg(c, d.R0, v);
    }

    private static void PopReg32(Cpu c, ref DecodedInstruction d)
    {
        uint v = c.Pop32();
        c.R[d.R0] = v;
    }

    /// <summary>POP r/m: the address is computed after ESP moves (so [esp] names the slot above the popped one).</summary>
    private static void PopRm<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint v = W.Bits == 32 ? c.Pop32() : c.Pop16();
        c.WriteRm<W>(ref d, d.R0, v);
    }

    private static void PushSreg16(Cpu c, ref DecodedInstruction d) => c.Push16(c.S[d.R0].Selector);

    /// <summary>
    /// PUSH Sreg with 32-bit operand size: ESP moves by 4 but, as on P6-family and later Intel
    /// processors, only the low word of the slot is written (a 16-bit store).
    /// </summary>
    private static void PushSreg32(Cpu c, ref DecodedInstruction d)
    {
        ushort selector = c.S[d.R0].Selector;
        uint sp = c.R[ESP];
        bool big = c.Stack32;
        uint nsp = big ? sp - 4 : (ushort)(sp - 4);
        c.LinearWrite((int)SegmentRegister.SS, nsp, 4);
        c.Write16((int)SegmentRegister.SS, nsp, selector);
        c.R[ESP] = big ? nsp : (sp & 0xFFFF_0000) | nsp;
    }

    private static void PopSreg16(Cpu c, ref DecodedInstruction d) => PopSreg(c, d.R0, c.Pop16());
    private static void PopSreg32(Cpu c, ref DecodedInstruction d) => PopSreg(c, d.R0, (ushort)c.Pop32());

    private static void PopSreg(Cpu c, int seg, ushort selector)
    {
        c.LoadSegment(seg, selector);
        if (seg == (int)SegmentRegister.SS) c._interruptShadow = true;
    }

    /// <summary>PUSHA/PUSHAD: pushes the eight registers, (E)SP as it was before the first push.</summary>
    private static void Pusha<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint sp = c.R[ESP];
        for (int i = 0; i < 8; i++)
        {
            uint v = i == ESP ? sp : c.R[i];
            if (W.Bits == 32) c.Push32(v);
            else c.Push16((ushort)v);
        }
    }

    /// <summary>POPA/POPAD: reads all eight slots first (so a fault changes nothing), skips the (E)SP slot.</summary>
    private static void Popa<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        bool size32 = W.Bits == 32;
        uint step = size32 ? 4u : 2u;
        Span<uint> values = stackalloc uint[8];
        for (int i = 0; i < 8; i++)
            values[7 - i] = c.PeekStack((uint)i * step, size32);
        for (int i = 0; i < 8; i++)
            if (i != ESP) W.SetReg(c, i, values[i]);
        c.AdjustStack(8 * step);
    }

    /// <summary>ENTER imm16, imm8 (Intel SDM vol. 2, ENTER), the nesting level taken modulo 32.</summary>
    private static void Enter<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        bool size32 = W.Bits == 32;
        bool stack32 = c.Stack32;
        uint allocSize = d.Imm & 0xFFFF;
        int level = (int)(d.Imm2 & 31);
        uint ebp = c.R[EBP];
        c.Push(ebp, size32);
        uint frameTemp = stack32 ? c.R[ESP] : (ushort)c.R[ESP];
        if (level > 0)
        {
            uint step = size32 ? 4u : 2u;
            for (int i = 1; i < level; i++)
            {
                ebp = stack32 ? ebp - step : (ebp & 0xFFFF_0000) | (ushort)(ebp - step);
                uint slot = stack32 ? ebp : (ushort)ebp;
                uint v = size32 ? c.Read32((int)SegmentRegister.SS, slot) : c.Read16((int)SegmentRegister.SS, slot);
                c.Push(v, size32);
            }
            c.Push(frameTemp, size32);
        }
        // The final allocation is checked as a stack access would be, so that a bad frame faults here.
        uint sp = c.R[ESP];
        uint newSp = stack32 ? sp - allocSize : (sp & 0xFFFF_0000) | (ushort)(sp - allocSize);
        if (allocSize != 0)
            c.LinearWrite((int)SegmentRegister.SS, stack32 ? newSp : (ushort)newSp, 1);
        c.R[ESP] = newSp;
        W.SetReg(c, EBP, frameTemp);
    }

    /// <summary>LEAVE: (E)SP = (E)BP by the stack size, then pop (E)BP by the operand size.</summary>
    private static void Leave<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (c.Stack32) c.R[ESP] = c.R[EBP];
        else c.R[ESP] = (c.R[ESP] & 0xFFFF_0000) | (ushort)c.R[EBP];
        uint v = W.Bits == 32 ? c.Pop32() : c.Pop16();
        W.SetReg(c, EBP, v);
    }

    /// <summary>LDS/LES/LFS/LGS/LSS: offset then selector from memory; the segment load (which may fault) happens before the register write.</summary>
    private static void LoadFarPointer<W>(Cpu c, ref DecodedInstruction d, SegmentRegister sr) where W : struct, IOperandWidth
    {
        if (!d.HasMemory) InvalidOpcode();
        uint ea = c.Ea(ref d);
        uint selEa = ea + (uint)W.Bits / 8;
        if (!d.AddrSize32) selEa &= 0xFFFF;
        uint offset = W.ReadLinear(c, c.LinearRead(d.Segment, ea, (uint)W.Bits / 8));
        ushort selector = c.Read16(d.Segment, selEa);
        c.LoadSegment((int)sr, selector);
        W.SetReg(c, d.R0, offset);
    }

    private static void Lds<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => LoadFarPointer<W>(c, ref d, SegmentRegister.DS);
    private static void Les<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => LoadFarPointer<W>(c, ref d, SegmentRegister.ES);
    private static void Lfs<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => LoadFarPointer<W>(c, ref d, SegmentRegister.FS);
    private static void Lgs<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => LoadFarPointer<W>(c, ref d, SegmentRegister.GS);
    private static void Lss<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => LoadFarPointer<W>(c, ref d, SegmentRegister.SS);

    // ---- accumulator conversions and flag byte ----------------------------------------------------

    private static void Cbw(Cpu c, ref DecodedInstruction d) => W16.SetReg(c, EAX, (uint)(short)(sbyte)c.R[EAX]);
    private static void Cwde(Cpu c, ref DecodedInstruction d) => c.R[EAX] = (uint)(short)c.R[EAX];
    private static void Cwd(Cpu c, ref DecodedInstruction d) => W16.SetReg(c, EDX, (c.R[EAX] & 0x8000) != 0 ? 0xFFFFu : 0);
    private static void Cdq(Cpu c, ref DecodedInstruction d) => c.R[EDX] = (uint)((int)c.R[EAX] >> 31);

    private const uint LahfFlags = SF | ZF | AF | PF | CF;

    /// <summary>LAHF: AH = SF ZF 0 AF 0 PF 1 CF.</summary>
    private static void Lahf(Cpu c, ref DecodedInstruction d) => c.SetReg8(4, (byte)((c._flags & LahfFlags) | 2));

    private static void Sahf(Cpu c, ref DecodedInstruction d) => c._flags = (c._flags & ~LahfFlags) | (c.GetReg8(4) & LahfFlags);

    /// <summary>XLAT: AL = [seg: (E)BX + unsigned AL], at the address size.</summary>
    private static void Xlat(Cpu c, ref DecodedInstruction d)
    {
        uint ea = c.R[EBX] + (byte)c.R[EAX];
        if (!d.AddrSize32) ea &= 0xFFFF;
        c.SetReg8(0, c.Read8(d.Segment, ea));
    }

    static partial void RegisterDataTransfer(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        Set(t, "Mov_rm8_r8", &MovRmReg<W8>);
        Set(t, "Mov_rm16_r16", &MovRmReg<W16>);
        Set(t, "Mov_rm32_r32", &MovRmReg<W32>);
        Set(t, "Mov_r8_rm8", &MovRegRm<W8>);
        Set(t, "Mov_r16_rm16", &MovRegRm<W16>);
        Set(t, "Mov_r32_rm32", &MovRegRm<W32>);
        Set(t, "Mov_AL_moffs8", &MovRegRm<W8>);
        Set(t, "Mov_AX_moffs16", &MovRegRm<W16>);
        Set(t, "Mov_EAX_moffs32", &MovRegRm<W32>);
        Set(t, "Mov_moffs8_AL", &MovRmReg<W8>);
        Set(t, "Mov_moffs16_AX", &MovRmReg<W16>);
        Set(t, "Mov_moffs32_EAX", &MovRmReg<W32>);
        Set(t, "Mov_r8_imm8", &MovRmImm<W8>);
        Set(t, "Mov_r16_imm16", &MovRmImm<W16>);
        Set(t, "Mov_r32_imm32", &MovRmImm<W32>);
        Set(t, "Mov_rm8_imm8", &MovRmImm<W8>);
        Set(t, "Mov_rm16_imm16", &MovRmImm<W16>);
        Set(t, "Mov_rm32_imm32", &MovRmImm<W32>);
        Set(t, "Mov_Sreg_rm16", &MovSregRm);
        Set(t, "Mov_Sreg_r32m16", &MovSregRm);
        Set(t, "Mov_rm16_Sreg", &MovRm16Sreg);
        Set(t, "Mov_r32m16_Sreg", &MovR32M16Sreg);

        Set(t, "Movzx_r16_rm8", &Movzx<W16, W8>);
        Set(t, "Movzx_r32_rm8", &Movzx<W32, W8>);
        Set(t, "Movzx_r16_rm16", &Movzx<W16, W16>);
        Set(t, "Movzx_r32_rm16", &Movzx<W32, W16>);
        Set(t, "Movsx_r16_rm8", &Movsx<W16, W8>);
        Set(t, "Movsx_r32_rm8", &Movsx<W32, W8>);
        Set(t, "Movsx_r16_rm16", &Movsx<W16, W16>);
        Set(t, "Movsx_r32_rm16", &Movsx<W32, W16>);

        Set(t, "Xchg_rm8_r8", &Xchg<W8>);
        Set(t, "Xchg_rm16_r16", &Xchg<W16>);
        Set(t, "Xchg_rm32_r32", &Xchg<W32>);
        Set(t, "Xchg_r16_AX", &Xchg<W16>);
        Set(t, "Xchg_r32_EAX", &Xchg<W32>);
        Set(t, "Xadd_rm8_r8", &Xadd<W8>);
        Set(t, "Xadd_rm16_r16", &Xadd<W16>);
        Set(t, "Xadd_rm32_r32", &Xadd<W32>);
        Set(t, "Cmpxchg_rm8_r8", &Cmpxchg<W8>);
        Set(t, "Cmpxchg_rm16_r16", &Cmpxchg<W16>);
        Set(t, "Cmpxchg_rm32_r32", &Cmpxchg<W32>);
        Set(t, "Cmpxchg8b_m64", &Cmpxchg8b);
        Set(t, "Bswap_r16", &Bswap16);
        Set(t, "Bswap_r32", &Bswap32);
        Set(t, "Lea_r16_m", &Lea<W16>);
        Set(t, "Lea_r32_m", &Lea<W32>);
        Set(t, "Nopw", &Nop);
        Set(t, "Nopd", &Nop);
        Set(t, "Pause", &Nop);
        Set(t, "Nop_rm16", &Nop);
        Set(t, "Nop_rm32", &Nop);

        Set(t, "Push_r16", &PushReg16);
        Set(t, "Push_r32", &PushReg32);
        Set(t, "Pop_r16", &PopReg16);
        Set(t, "Pop_r32", &PopReg32);
        Set(t, "Push_rm16", &PushRm16);
        Set(t, "Push_rm32", &PushRm32);
        Set(t, "Pop_rm16", &PopRm<W16>);
        Set(t, "Pop_rm32", &PopRm<W32>);
        Set(t, "Pushw_imm8", &PushImm16);
        Set(t, "Push_imm16", &PushImm16);
        Set(t, "Pushd_imm8", &PushImm32);
        Set(t, "Pushd_imm32", &PushImm32);
        foreach (var sr in (ReadOnlySpan<string>)["ES", "CS", "SS", "DS", "FS", "GS"])
        {
            Set(t, $"Pushw_{sr}", &PushSreg16);
            Set(t, $"Pushd_{sr}", &PushSreg32);
            if (sr == "CS") continue; // POP CS does not exist past the 8086
            Set(t, $"Popw_{sr}", &PopSreg16);
            Set(t, $"Popd_{sr}", &PopSreg32);
        }
        Set(t, "Pushaw", &Pusha<W16>);
        Set(t, "Pushad", &Pusha<W32>);
        Set(t, "Popaw", &Popa<W16>);
        Set(t, "Popad", &Popa<W32>);
        Set(t, "Enterw_imm16_imm8", &Enter<W16>);
        Set(t, "Enterd_imm16_imm8", &Enter<W32>);
        Set(t, "Leavew", &Leave<W16>);
        Set(t, "Leaved", &Leave<W32>);

        Set(t, "Lds_r16_m1616", &Lds<W16>);
        Set(t, "Lds_r32_m1632", &Lds<W32>);
        Set(t, "Les_r16_m1616", &Les<W16>);
        Set(t, "Les_r32_m1632", &Les<W32>);
        Set(t, "Lfs_r16_m1616", &Lfs<W16>);
        Set(t, "Lfs_r32_m1632", &Lfs<W32>);
        Set(t, "Lgs_r16_m1616", &Lgs<W16>);
        Set(t, "Lgs_r32_m1632", &Lgs<W32>);
        Set(t, "Lss_r16_m1616", &Lss<W16>);
        Set(t, "Lss_r32_m1632", &Lss<W32>);

        Set(t, "Cbw", &Cbw);
        Set(t, "Cwde", &Cwde);
        Set(t, "Cwd", &Cwd);
        Set(t, "Cdq", &Cdq);
        Set(t, "Lahf", &Lahf);
        Set(t, "Sahf", &Sahf);
        Set(t, "Xlat_m8", &Xlat);
    }
}
