using Iced.Intel;
using VmFt.Guest.Processor.X87;

namespace VmFt.Guest.Processor;

// x87 data movement, arithmetic and comparison. Each handler reads its memory operand first (a
// fault leaves the FPU untouched), then records the instruction and operand pointers, then
// checks the stack, computes, and commits the status word before writing the destination.
public sealed unsafe partial class Cpu
{
    // ---- operand access -------------------------------------------------------------------------

    private uint FpuOperandOffset(ref DecodedInstruction d)
    {
        uint ea = Ea(ref d);
        FpuNoteInstruction(ref d);
        FpuNoteOperand(ref d, ea);
        return ea;
    }

    private uint ReadM32(ref DecodedInstruction d, out uint offset)
    {
        offset = Ea(ref d);
        return ReadLinear32(LinearRead(d.Segment, offset, 4));
    }

    private ulong ReadM64(ref DecodedInstruction d, uint offset)
    {
        uint linear = LinearRead(d.Segment, offset, 8);
        uint lo = ReadLinear32(linear);
        uint hi = ReadLinear32(linear + 4);
        return ((ulong)hi << 32) | lo;
    }

    private Float80 ReadM80(ref DecodedInstruction d, uint offset)
    {
        uint linear = LinearRead(d.Segment, offset, 10);
        uint lo = ReadLinear32(linear);
        uint hi = ReadLinear32(linear + 4);
        ushort se = ReadLinear16(linear + 8);
        return new Float80(((ulong)hi << 32) | lo, se);
    }

    /// <summary>Checks that a store of <paramref name="size"/> bytes can complete (segment and paging) before any FPU state changes.</summary>
    private uint ProbeWrite(ref DecodedInstruction d, uint offset, uint size)
    {
        uint linear = LinearWrite(d.Segment, offset, size);
        // A write translation already in the TLB for a store within one page: nothing can fault.
        uint page = linear >> 12;
        if (_tlbTag[_tlbPrivBase + TlbSize + (int)(page & (TlbSize - 1))] == page && (linear & 0xFFF) + size <= 0x1000) return linear;
        bool user = _cpl == 3;
        Translate(linear, write: true, user);
        uint last = linear + size - 1;
        if ((last >> 12) != (linear >> 12)) Translate(last, write: true, user);
        return linear;
    }

    private void WriteM64(uint linear, ulong value)
    {
        WriteLinear32(linear, (uint)value);
        WriteLinear32(linear + 4, (uint)(value >> 32));
    }

    private void WriteM80(uint linear, Float80 value)
    {
        WriteLinear32(linear, (uint)value.Significand);
        WriteLinear32(linear + 4, (uint)(value.Significand >> 32));
        WriteLinear16(linear + 8, value.SignExponent);
    }

    // ---- loads ----------------------------------------------------------------------------------

    /// <summary>Pushes a loaded value; a full stack is a stack overflow (masked: the indefinite is pushed).</summary>
    private void FpuPushChecked(Float80 value, in FpContext c)
    {
        if (!IsEmptyPhys((_ftop - 1) & 7))
        {
            if (StackFault(overflow: true)) Push(Float80.Indefinite);
            return;
        }
        // An unmasked denormal still loads (the value is exact in a register); an unmasked IE does not.
        FpuCommit(c);
        if ((c.Flags & ~c.Masks & FpContext.IE) == 0) Push(value);
    }

    private bool IsEmptyPhys(int p) => (_fvalid & (1 << p)) == 0;

    private static void FldM32(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint bits = c.ReadM32(ref d, out _);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        if (!c.IsEmptyPhys((c._ftop - 1) & 7)) { c.FpuPushChecked(default, ctx); return; }
        c.FpuPushChecked(Fp80.FromSingle(bits, ref ctx), ctx);
    }

    private static void FldM64(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        ulong bits = c.ReadM64(ref d, offset);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        if (!c.IsEmptyPhys((c._ftop - 1) & 7)) { c.FpuPushChecked(default, ctx); return; }
        c.FpuPushChecked(Fp80.FromDouble(bits, ref ctx), ctx);
    }

    private static void FldM80(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        var v = c.ReadM80(ref d, offset);
        c.FpuOperandOffset(ref d);
        c.FpuPushChecked(v, c.NewContext());
    }

    private static void FldSti(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        int i = d.R1 == DecodedInstruction.NoReg ? d.R0 : d.R1;
        if (c.IsEmpty(i))
        {
            // An empty source is reported as an underflow even when the stack is also full.
            if (c.StackFault(overflow: false)) c.Push(Float80.Indefinite);
            return;
        }
        c.FpuPushChecked(c.St(i), c.NewContext());
    }

    private static void FildM16(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        short v = (short)c.ReadLinear16(c.LinearRead(d.Segment, offset, 2));
        c.FpuOperandOffset(ref d);
        c.FpuPushChecked(Fp80.FromInteger(v), c.NewContext());
    }

    private static void FildM32(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        int v = (int)c.ReadM32(ref d, out _);
        c.FpuOperandOffset(ref d);
        c.FpuPushChecked(Fp80.FromInteger(v), c.NewContext());
    }

    private static void FildM64(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        long v = (long)c.ReadM64(ref d, offset);
        c.FpuOperandOffset(ref d);
        c.FpuPushChecked(Fp80.FromInteger(v), c.NewContext());
    }

    private static void Fbld(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        uint linear = c.LinearRead(d.Segment, offset, 10);
        Span<byte> bcd = stackalloc byte[10];
        for (int i = 0; i < 10; i++) bcd[i] = c.ReadLinear8(linear + (uint)i);
        c.FpuOperandOffset(ref d);
        c.FpuPushChecked(Fp80.FromBcd(bcd), c.NewContext());
    }

    // The constants, as 66-bit values rounded to 64 bits per RC (SDM vol. 1, 8.3.8): the two
    // extra bits decide whether rounding up or down changes the last bit.
    private static void FldConstant(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        // Significand (64 bits), unbiased exponent, and the two bits that follow in the 66-bit constant.
        (ulong sig, int exp, int below) = (Code)d.Code switch
        {
            Code.Fld1 => (0x8000_0000_0000_0000UL, 0, 0),
            Code.Fldz => (0UL, 0, 0),
            Code.Fldl2t => (0xD49A_784B_CD1B_8AFEUL, 1, 1), // log2(10): next bits 01
            Code.Fldl2e => (0xB8AA_3B29_5C17_F0BBUL, 0, 2), // log2(e): next bits 10
            Code.Fldpi => (0xC90F_DAA2_2168_C234UL, 1, 3),  // pi: next bits 11
            Code.Fldlg2 => (0x9A20_9A84_FBCF_F798UL, -2, 2), // log10(2): next bits 10
            _ => (0xB172_17F7_D1CF_79ABUL, -1, 3),         // ln(2): next bits 11
        };
        Float80 v;
        if (sig == 0) v = Float80.Zero;
        else
        {
            int rc = (c._fcw >> 10) & 3;
            bool roundBit = (below & 2) != 0;
            bool up = rc switch { 0 => roundBit, 2 => below != 0, _ => false };
            if (up) sig++;
            v = new Float80(false, Float80.Bias + exp, sig);
        }
        c.FpuPushChecked(v, c.NewContext());
    }

    // ---- stores ---------------------------------------------------------------------------------

    private static bool IsPopForm(ushort code) => (Code)code is Code.Fstp_m32fp or Code.Fstp_m64fp or Code.Fstp_m80fp
        or Code.Fstp_sti or Code.Fstpnce_sti or Code.Fstp_sti_DFD0 or Code.Fstp_sti_DFD8 or Code.Fistp_m16int
        or Code.Fistp_m32int or Code.Fistp_m64int or Code.Fbstp_m80bcd or Code.Fcomp_m32fp or Code.Fcomp_m64fp
        or Code.Ficomp_m16int or Code.Ficomp_m32int or Code.Fcomp_st0_sti or Code.Fcomp_st0_sti_DCD8
        or Code.Fcomp_st0_sti_DED0 or Code.Fucomp_st0_sti or Code.Fcomip_st0_sti or Code.Fucomip_st0_sti or Code.Ffreep_sti;

    private static void FstM32(Cpu c, ref DecodedInstruction d) => c.StoreFloat(ref d, Fp80.Single, 4);

    private static void FstM64(Cpu c, ref DecodedInstruction d) => c.StoreFloat(ref d, Fp80.Double, 8);

    private void StoreFloat(ref DecodedInstruction d, Fp80.Format f, uint size)
    {
        FpuEnter();
        uint offset = FpuOperandOffset(ref d);
        uint linear = ProbeWrite(ref d, offset, size);
        bool pop = IsPopForm(d.Code);
        if (IsEmpty(0))
        {
            if (!StackFault(overflow: false)) return;
            if (size == 4) WriteLinear32(linear, Fp80.SingleIndefinite);
            else WriteM64(linear, Fp80.DoubleIndefinite);
            if (pop) Pop();
            return;
        }
        var ctx = NewContext();
        ulong bits = Fp80.ToMemoryFloat(St(0), f, ref ctx);
        bool store = FpuCommitMemory(ctx);
        if (!store) return;
        if (size == 4) WriteLinear32(linear, (uint)bits);
        else WriteM64(linear, bits);
        if (pop) Pop();
    }

    private static void FstpM80(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.FpuOperandOffset(ref d);
        uint linear = c.ProbeWrite(ref d, offset, 10);
        if (c.IsEmpty(0))
        {
            if (!c.StackFault(overflow: false)) return;
            c.WriteM80(linear, Float80.Indefinite);
            c.Pop();
            return;
        }
        c._fsw &= unchecked((ushort)~FswC1);
        c.WriteM80(linear, c.St(0));
        c.Pop();
    }

    /// <summary>D9 D8+i (FSTP1): like FSTP ST(i) but without the stack check: ST(0)'s contents and tag move to ST(i) as they are, empty included.</summary>
    private static void FstpNoCheck(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        int src = c.Phys(0), dst = c.Phys(d.R0);
        c._fsw &= unchecked((ushort)~FswC1);
        c._fpr[dst] = c._fpr[src];
        if ((c._fvalid & (1 << src)) != 0) c._fvalid |= (byte)(1 << dst);
        else c._fvalid &= (byte)~(1 << dst);
        c.Pop();
    }

    private static void FstSti(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        int i = d.R0;
        bool pop = IsPopForm(d.Code);
        if (c.IsEmpty(0))
        {
            if (!c.StackFault(overflow: false)) return;
            c.SetSt(i, Float80.Indefinite);
            if (pop) c.Pop();
            return;
        }
        c._fsw &= unchecked((ushort)~FswC1);
        c.SetSt(i, c.St(0));
        if (pop) c.Pop();
    }

    private static void FistM16(Cpu c, ref DecodedInstruction d) => c.StoreInteger(ref d, 16);
    private static void FistM32(Cpu c, ref DecodedInstruction d) => c.StoreInteger(ref d, 32);
    private static void FistM64(Cpu c, ref DecodedInstruction d) => c.StoreInteger(ref d, 64);

    private void StoreInteger(ref DecodedInstruction d, int bits)
    {
        FpuEnter();
        uint offset = FpuOperandOffset(ref d);
        uint size = (uint)bits / 8;
        uint linear = ProbeWrite(ref d, offset, size);
        bool pop = IsPopForm(d.Code);
        long value;
        if (IsEmpty(0))
        {
            if (!StackFault(overflow: false)) return;
            value = long.MinValue >> (64 - bits);
        }
        else
        {
            var ctx = NewContext();
            value = Fp80.ToInteger(St(0), bits, ref ctx);
            if (!FpuCommit(ctx)) return;
        }
        switch (bits)
        {
            case 16: WriteLinear16(linear, (ushort)value); break;
            case 32: WriteLinear32(linear, (uint)value); break;
            default: WriteM64(linear, (ulong)value); break;
        }
        if (pop) Pop();
    }

    private static void Fbstp(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.FpuOperandOffset(ref d);
        uint linear = c.ProbeWrite(ref d, offset, 10);
        Span<byte> bcd = stackalloc byte[10];
        if (c.IsEmpty(0))
        {
            if (!c.StackFault(overflow: false)) return;
            bcd.Clear();
            bcd[7] = 0xC0;
            bcd[8] = bcd[9] = 0xFF;
        }
        else
        {
            var ctx = c.NewContext();
            bool ok = Fp80.ToBcd(c.St(0), bcd, ref ctx);
            if (!c.FpuCommit(ctx) || !ok) return;
        }
        for (int i = 0; i < 10; i++) c.WriteLinear8(linear + (uint)i, bcd[i]);
        c.Pop();
    }

    private static void Fxch(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        int i = d.R1;
        if (c.IsEmpty(0) || c.IsEmpty(i))
        {
            if (!c.StackFault(overflow: false)) return;
            if (c.IsEmpty(0)) c.SetSt(0, Float80.Indefinite);
            if (c.IsEmpty(i)) c.SetSt(i, Float80.Indefinite);
        }
        else c._fsw &= unchecked((ushort)~FswC1);
        var t = c.St(0);
        c.SetSt(0, c.St(i));
        c.SetSt(i, t);
    }

    private static void Fcmov(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        int i = d.R1;
        if (c.IsEmpty(0) || c.IsEmpty(i))
        {
            // Masked: ST(0) becomes the indefinite whatever the condition.
            if (c.StackFault(overflow: false)) c.SetSt(0, Float80.Indefinite);
            return;
        }
        bool move = (Code)d.Code switch
        {
            Code.Fcmovb_st0_sti => c.GetFlag(CF),
            Code.Fcmove_st0_sti => c.GetFlag(ZF),
            Code.Fcmovbe_st0_sti => c.GetFlag(CF) || c.GetFlag(ZF),
            Code.Fcmovu_st0_sti => c.GetFlag(PF),
            Code.Fcmovnb_st0_sti => !c.GetFlag(CF),
            Code.Fcmovne_st0_sti => !c.GetFlag(ZF),
            Code.Fcmovnbe_st0_sti => !c.GetFlag(CF) && !c.GetFlag(ZF),
            _ => !c.GetFlag(PF),
        };
        if (move) c.SetSt(0, c.St(i));
    }

    // ---- arithmetic -----------------------------------------------------------------------------

    /// <summary>ST(dest) = op(ST(dest), source), then pop if asked; a memory source was converted in <paramref name="ctx"/>.</summary>
    private void Arith<TOp>(int dest, Float80 source, bool sourceEmpty, ref FpContext ctx, bool pop) where TOp : struct, IFpBinary
    {
        if (IsEmpty(dest) || sourceEmpty)
        {
            if (!StackFault(overflow: false)) return;
            SetSt(dest, Float80.Indefinite);
            if (pop) Pop();
            return;
        }
        if (!ctx.Stopped)
        {
            var r = TOp.Apply(St(dest), source, ref ctx);
            if (FpuCommit(ctx)) SetSt(dest, r);
            else return;
        }
        else
        {
            FpuCommit(ctx);
            return;
        }
        if (pop) Pop();
    }

    private static void ArithM32<TOp>(Cpu c, ref DecodedInstruction d) where TOp : struct, IFpBinary
    {
        c.FpuEnter();
        uint bits = c.ReadM32(ref d, out _);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        Float80 src = c.IsEmpty(0) ? default : Fp80.FromSingle(bits, ref ctx, asOperand: true);
        c.Arith<TOp>(0, src, false, ref ctx, false);
    }

    private static void ArithM64<TOp>(Cpu c, ref DecodedInstruction d) where TOp : struct, IFpBinary
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        ulong bits = c.ReadM64(ref d, offset);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        Float80 src = c.IsEmpty(0) ? default : Fp80.FromDouble(bits, ref ctx, asOperand: true);
        c.Arith<TOp>(0, src, false, ref ctx, false);
    }

    private static void ArithM16Int<TOp>(Cpu c, ref DecodedInstruction d) where TOp : struct, IFpBinary
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        short v = (short)c.ReadLinear16(c.LinearRead(d.Segment, offset, 2));
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        c.Arith<TOp>(0, Fp80.FromInteger(v), false, ref ctx, false);
    }

    private static void ArithM32Int<TOp>(Cpu c, ref DecodedInstruction d) where TOp : struct, IFpBinary
    {
        c.FpuEnter();
        int v = (int)c.ReadM32(ref d, out _);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        c.Arith<TOp>(0, Fp80.FromInteger(v), false, ref ctx, false);
    }

    private static void ArithSt0Sti<TOp>(Cpu c, ref DecodedInstruction d) where TOp : struct, IFpBinary
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        var ctx = c.NewContext();
        c.Arith<TOp>(0, c.St(d.R1), c.IsEmpty(d.R1), ref ctx, false);
    }

    private static void ArithStiSt0<TOp>(Cpu c, ref DecodedInstruction d) where TOp : struct, IFpBinary
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        var ctx = c.NewContext();
        c.Arith<TOp>(d.R0, c.St(0), c.IsEmpty(0), ref ctx, false);
    }

    private static void ArithStiSt0Pop<TOp>(Cpu c, ref DecodedInstruction d) where TOp : struct, IFpBinary
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        var ctx = c.NewContext();
        c.Arith<TOp>(d.R0, c.St(0), c.IsEmpty(0), ref ctx, true);
    }

    // ---- comparisons ----------------------------------------------------------------------------

    /// <summary>C3 C2 C0 for a relation: greater 000, less 001, equal 100, unordered 111.</summary>
    private static ushort ConditionBits(Fp80.Relation r) => r switch
    {
        Fp80.Relation.Greater => 0,
        Fp80.Relation.Less => FswC0,
        Fp80.Relation.Equal => FswC3,
        _ => FswC3 | FswC2 | FswC0,
    };

    /// <summary>Compares ST(0) with a value; sets C3 C2 C0 (C1 = 0) unless an unmasked exception stops it; pops per <paramref name="pops"/>.</summary>
    private void CompareSt0(Float80 other, bool otherEmpty, bool quiet, ref FpContext ctx, int pops)
    {
        if (IsEmpty(0) || otherEmpty)
        {
            // Unordered, masked or not.
            bool masked = StackFault(overflow: false);
            _fsw = (ushort)(_fsw | FswC3 | FswC2 | FswC0);
            if (!masked) return;
        }
        else
        {
            // The condition codes are set even when an unmasked exception is raised; only the pop waits for a clean result.
            var rel = Fp80.Compare(St(0), other, quiet, ref ctx);
            bool clean = FpuCommit(ctx) && (ctx.Flags & ~ctx.Masks & FpContext.ExceptionMask) == 0;
            _fsw = (ushort)((_fsw & ~(FswC3 | FswC2 | FswC0)) | ConditionBits(rel));
            if (!clean) return;
        }
        for (int i = 0; i < pops; i++) Pop();
    }

    private static void FcomM32(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint bits = c.ReadM32(ref d, out _);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        var v = c.IsEmpty(0) ? default : Fp80.FromSingle(bits, ref ctx, asOperand: true);
        c.CompareSt0(v, false, false, ref ctx, IsPopForm(d.Code) ? 1 : 0);
    }

    private static void FcomM64(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        ulong bits = c.ReadM64(ref d, offset);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        var v = c.IsEmpty(0) ? default : Fp80.FromDouble(bits, ref ctx, asOperand: true);
        c.CompareSt0(v, false, false, ref ctx, IsPopForm(d.Code) ? 1 : 0);
    }

    private static void FicomM16(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        short v = (short)c.ReadLinear16(c.LinearRead(d.Segment, offset, 2));
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        c.CompareSt0(Fp80.FromInteger(v), false, false, ref ctx, IsPopForm(d.Code) ? 1 : 0);
    }

    private static void FicomM32(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        int v = (int)c.ReadM32(ref d, out _);
        c.FpuOperandOffset(ref d);
        var ctx = c.NewContext();
        c.CompareSt0(Fp80.FromInteger(v), false, false, ref ctx, IsPopForm(d.Code) ? 1 : 0);
    }

    private static void FcomSti(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        var code = (Code)d.Code;
        bool twoPops = code is Code.Fcompp or Code.Fucompp;
        int i = twoPops ? 1 : d.R1;
        bool quiet = code is Code.Fucom_st0_sti or Code.Fucomp_st0_sti or Code.Fucompp;
        var ctx = c.NewContext();
        c.CompareSt0(c.St(i), c.IsEmpty(i), quiet, ref ctx, twoPops ? 2 : IsPopForm(d.Code) ? 1 : 0);
    }

    private static void Ftst(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        var ctx = c.NewContext();
        c.CompareSt0(Float80.Zero, false, false, ref ctx, 0);
    }

    private static void Fxam(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        int bits = Fp80.Examine(c.St(0), c.IsEmpty(0));
        c._fsw = (ushort)((c._fsw & ~FswConditions) | bits);
    }

    /// <summary>FCOMI family: ZF PF CF as C3 C2 C0 would be; OF SF AF cleared.</summary>
    private static void Fcomi(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        var code = (Code)d.Code;
        bool quiet = code is Code.Fucomi_st0_sti or Code.Fucomip_st0_sti;
        int i = d.R1;
        uint flags;
        if (c.IsEmpty(0) || c.IsEmpty(i))
        {
            bool masked = c.StackFault(overflow: false);
            c._flags = (c._flags & ~(ZF | PF | CF | OF | SF | AF)) | ZF | PF | CF;
            if (!masked) return;
            flags = ZF | PF | CF;
        }
        else
        {
            // C1 is left as it was (the SDM says "set to 0", the hardware keeps it): save it around the commit.
            ushort c1 = (ushort)(c._fsw & FswC1);
            var ctx = c.NewContext();
            var rel = Fp80.Compare(c.St(0), c.St(i), quiet, ref ctx);
            bool clean = c.FpuCommit(ctx) && (ctx.Flags & ~ctx.Masks & FpContext.ExceptionMask) == 0;
            c._fsw = (ushort)((c._fsw & ~FswC1) | c1);
            flags = rel switch { Fp80.Relation.Greater => 0, Fp80.Relation.Less => CF, Fp80.Relation.Equal => ZF, _ => ZF | PF | CF };
            c._flags = (c._flags & ~(ZF | PF | CF | OF | SF | AF)) | flags;
            if (!clean) return;
        }
        c._flags = (c._flags & ~(ZF | PF | CF | OF | SF | AF)) | flags;
        if (IsPopForm(d.Code)) c.Pop();
    }
}
