using Iced.Intel;
using VmFt.Guest.Processor.X87;

namespace VmFt.Guest.Processor;

// x87 control instructions (FINIT, FCLEX, FLDCW, FSTCW, FSTSW, FSTENV, FLDENV, FSAVE, FRSTOR,
// FXSAVE, FXRSTOR: none of them touches the last-instruction pointers), the stack instructions
// and the one-operand instructions that are not transcendental.
public sealed unsafe partial class Cpu
{
    /// <summary>The status word's ES and B follow the exception flags that the control word leaves unmasked.</summary>
    private void RecomputeErrorSummary()
    {
        bool pending = (_fsw & ~_fcw & FpContext.ExceptionMask) != 0;
        _fsw = pending ? (ushort)(_fsw | FswEs | FswB) : (ushort)(_fsw & ~(FswEs | FswB));
        UpdateFerr();
    }

    private static void Finit(Cpu c, ref DecodedInstruction d)
    {
        c.MergedWait(ref d);
        c.FpuEnter(waiting: false);
        c.InitializeFpu();
    }

    private static void Fclex(Cpu c, ref DecodedInstruction d)
    {
        c.MergedWait(ref d);
        c.FpuEnter(waiting: false);
        c._fsw &= unchecked((ushort)~(FpContext.ExceptionMask | FpContext.SF | FswEs | FswB));
        c.UpdateFerr();
    }

    private static void Fldcw(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        uint offset = c.Ea(ref d);
        ushort cw = c.ReadLinear16(c.LinearRead(d.Segment, offset, 2));
        c._fcw = (ushort)((cw & 0x1F3F) | 0x40);
        c.RecomputeErrorSummary();
    }

    private static void Fstcw(Cpu c, ref DecodedInstruction d)
    {
        c.MergedWait(ref d);
        c.FpuEnter(waiting: false);
        c.Write16(d.Segment, c.Ea(ref d), c._fcw);
    }

    private static void Fstsw(Cpu c, ref DecodedInstruction d)
    {
        c.MergedWait(ref d);
        c.FpuEnter(waiting: false);
        ushort sw = c.FpuStatusWord;
        if (!d.HasMemory) c.R[EAX] = (c.R[EAX] & 0xFFFF_0000) | sw;
        else c.Write16(d.Segment, c.Ea(ref d), sw);
    }

    // ---- environment images --------------------------------------------------------------------

    /// <summary>Real-address and virtual-8086 mode use the real-mode layouts, with 20/32-bit linear pointers.</summary>
    private bool FpuRealFormat => !ProtectedMode || V86;

    private static bool Env32(ref DecodedInstruction d) => (Code)d.Code is Code.Fnstenv_m28byte or Code.Fstenv_m28byte
        or Code.Fldenv_m28byte or Code.Fnsave_m108byte or Code.Fsave_m108byte or Code.Frstor_m108byte;

    private void StoreEnvironment(uint linear, bool op32)
    {
        ushort cw = _fcw, sw = FpuStatusWord, tw = FullTagWord();
        bool real = FpuRealFormat;
        uint ip = real ? ((uint)_fcs << 4) + _fip : _fip;
        uint dp = real ? ((uint)_fds << 4) + _fdp : _fdp;
        if (op32)
        {
            WriteLinear32(linear, 0xFFFF_0000u | cw);
            WriteLinear32(linear + 4, 0xFFFF_0000u | sw);
            WriteLinear32(linear + 8, 0xFFFF_0000u | tw);
            if (real)
            {
                WriteLinear32(linear + 12, 0xFFFF_0000u | (ip & 0xFFFF));
                WriteLinear32(linear + 16, ((ip >> 16) << 12) | (_fop & 0x7FFu));
                WriteLinear32(linear + 20, 0xFFFF_0000u | (dp & 0xFFFF));
                WriteLinear32(linear + 24, (dp >> 16) << 12);
            }
            else
            {
                WriteLinear32(linear + 12, ip);
                WriteLinear32(linear + 16, _fcs | ((uint)(_fop & 0x7FF) << 16));
                WriteLinear32(linear + 20, dp);
                WriteLinear32(linear + 24, 0xFFFF_0000u | _fds);
            }
        }
        else
        {
            WriteLinear16(linear, cw);
            WriteLinear16(linear + 2, sw);
            WriteLinear16(linear + 4, tw);
            if (real)
            {
                WriteLinear16(linear + 6, (ushort)ip);
                WriteLinear16(linear + 8, (ushort)((((ip >> 16) & 0xF) << 12) | (_fop & 0x7FFu)));
                WriteLinear16(linear + 10, (ushort)dp);
                WriteLinear16(linear + 12, (ushort)(((dp >> 16) & 0xF) << 12));
            }
            else
            {
                WriteLinear16(linear + 6, (ushort)ip);
                WriteLinear16(linear + 8, _fcs);
                WriteLinear16(linear + 10, (ushort)dp);
                WriteLinear16(linear + 12, _fds);
            }
        }
    }

    /// <summary>Reads an environment image into locals first, so that a fault halfway changes nothing.</summary>
    private void LoadEnvironment(uint linear, bool op32)
    {
        ushort cw, sw, tw, cs = 0, ds = 0, op;
        uint ip, dp;
        bool real = FpuRealFormat;
        if (op32)
        {
            cw = ReadLinear16(linear);
            sw = ReadLinear16(linear + 4);
            tw = ReadLinear16(linear + 8);
            uint w12 = ReadLinear32(linear + 12), w16 = ReadLinear32(linear + 16), w20 = ReadLinear32(linear + 20), w24 = ReadLinear32(linear + 24);
            if (real)
            {
                ip = (w12 & 0xFFFF) | (((w16 >> 12) & 0xFFFF) << 16);
                op = (ushort)(w16 & 0x7FF);
                dp = (w20 & 0xFFFF) | (((w24 >> 12) & 0xFFFF) << 16);
            }
            else
            {
                ip = w12;
                cs = (ushort)w16;
                op = (ushort)((w16 >> 16) & 0x7FF);
                dp = w20;
                ds = (ushort)w24;
            }
        }
        else
        {
            cw = ReadLinear16(linear);
            sw = ReadLinear16(linear + 2);
            tw = ReadLinear16(linear + 4);
            uint w6 = ReadLinear16(linear + 6), w8 = ReadLinear16(linear + 8), w10 = ReadLinear16(linear + 10), w12 = ReadLinear16(linear + 12);
            if (real)
            {
                ip = w6 | ((w8 >> 12) << 16);
                op = (ushort)(w8 & 0x7FF);
                dp = w10 | ((w12 >> 12) << 16);
            }
            else
            {
                ip = w6;
                cs = (ushort)w8;
                op = 0;
                dp = w10;
                ds = (ushort)w12;
            }
        }
        _fcw = (ushort)((cw & 0x1F3F) | 0x40);
        _fsw = (ushort)(sw & ~FswTop);
        _ftop = (sw >> 11) & 7;
        _fvalid = ValidFromTagWord(tw);
        _fip = ip;
        _fcs = cs;
        _fdp = dp;
        _fds = ds;
        _fop = op;
        RecomputeErrorSummary();
    }

    private static void Fstenv(Cpu c, ref DecodedInstruction d)
    {
        c.MergedWait(ref d);
        c.FpuEnter(waiting: false);
        bool op32 = Env32(ref d);
        uint linear = c.LinearWrite(d.Segment, c.Ea(ref d), op32 ? 28u : 14u);
        c.StoreEnvironment(linear, op32);
        // Afterwards every exception is masked (SDM: FSTENV "masks all floating-point exceptions"),
        // which clears ES: the error summary follows the unmasked flags.
        c._fcw |= FpContext.ExceptionMask;
        c.RecomputeErrorSummary();
    }

    private static void Fldenv(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter(waiting: true);
        bool op32 = Env32(ref d);
        uint linear = c.LinearRead(d.Segment, c.Ea(ref d), op32 ? 28u : 14u);
        c.LoadEnvironment(linear, op32);
    }

    private static void Fsave(Cpu c, ref DecodedInstruction d)
    {
        c.MergedWait(ref d);
        c.FpuEnter(waiting: false);
        bool op32 = Env32(ref d);
        uint envSize = op32 ? 28u : 14u;
        uint linear = c.LinearWrite(d.Segment, c.Ea(ref d), envSize + 80);
        c.StoreEnvironment(linear, op32);
        for (int i = 0; i < 8; i++) c.WriteM80(linear + envSize + 10 * (uint)i, c.St(i));
        c.InitializeFpu();
    }

    private static void Frstor(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter(waiting: true);
        bool op32 = Env32(ref d);
        uint envSize = op32 ? 28u : 14u;
        uint offset = c.Ea(ref d);
        uint linear = c.LinearRead(d.Segment, offset, envSize + 80);
        Span<Float80> regs = stackalloc Float80[8];
        for (int i = 0; i < 8; i++) regs[i] = c.ReadM80(ref d, offset + envSize + 10 * (uint)i);
        c.LoadEnvironment(linear, op32);
        for (int i = 0; i < 8; i++) c._fpr[(c._ftop + i) & 7] = regs[i];
    }

    // ---- FXSAVE / FXRSTOR -----------------------------------------------------------------------
    //
    // The 512-byte image: FCW, FSW, abridged tag (one bit per physical register, 1 = not empty),
    // FOP, FIP, FCS, FDP, FDS, then ST0-ST7 in 16-byte slots. This processor has no SSE: the SDM
    // says FXSAVE "may not save" MXCSR and the XMM registers when CR4.OSFXSR is clear, and there is
    // nothing to save here whatever CR4 says, so bytes 24-31 and 160-511 are left as they are and
    // FXRSTOR ignores them.

    private uint FxsaveLinear(ref DecodedInstruction d, bool write)
    {
        if ((_cr0 & CR0_EM) != 0) InvalidOpcode();
        if ((_cr0 & CR0_TS) != 0) ThrowFault(ExceptionVectors.DeviceNotAvailable);
        uint offset = Ea(ref d);
        if ((offset & 15) != 0) ThrowFault(ExceptionVectors.GeneralProtection);
        return write ? LinearWrite(d.Segment, offset, 512) : LinearRead(d.Segment, offset, 512);
    }

    private static void Fxsave(Cpu c, ref DecodedInstruction d)
    {
        uint linear = c.FxsaveLinear(ref d, write: true);
        c.WriteLinear16(linear, c._fcw);
        c.WriteLinear16(linear + 2, c.FpuStatusWord);
        c.WriteLinear16(linear + 4, c._fvalid);
        c.WriteLinear16(linear + 6, (ushort)(c._fop & 0x7FF));
        c.WriteLinear32(linear + 8, c._fip);
        c.WriteLinear32(linear + 12, c._fcs);
        c.WriteLinear32(linear + 16, c._fdp);
        c.WriteLinear32(linear + 20, c._fds);
        for (int i = 0; i < 8; i++)
        {
            uint slot = linear + 32 + 16 * (uint)i;
            c.WriteM80(slot, c.St(i));
            c.WriteLinear16(slot + 10, 0);
            c.WriteLinear32(slot + 12, 0);
        }
    }

    private static void Fxrstor(Cpu c, ref DecodedInstruction d)
    {
        uint linear = c.FxsaveLinear(ref d, write: false);
        ushort cw = c.ReadLinear16(linear), sw = c.ReadLinear16(linear + 2);
        byte valid = c.ReadLinear8(linear + 4);
        ushort op = c.ReadLinear16(linear + 6);
        uint ip = c.ReadLinear32(linear + 8), dp = c.ReadLinear32(linear + 16);
        ushort cs = c.ReadLinear16(linear + 12), ds = c.ReadLinear16(linear + 20);
        Span<Float80> regs = stackalloc Float80[8];
        for (int i = 0; i < 8; i++)
        {
            uint slot = linear + 32 + 16 * (uint)i;
            regs[i] = new Float80(((ulong)c.ReadLinear32(slot + 4) << 32) | c.ReadLinear32(slot), c.ReadLinear16(slot + 8));
        }
        c._fcw = (ushort)((cw & 0x1F3F) | 0x40);
        c._fsw = (ushort)(sw & ~FswTop);
        c._ftop = (sw >> 11) & 7;
        c._fvalid = valid;
        c._fop = (ushort)(op & 0x7FF);
        c._fip = ip;
        c._fcs = cs;
        c._fdp = dp;
        c._fds = ds;
        for (int i = 0; i < 8; i++) c._fpr[(c._ftop + i) & 7] = regs[i];
        c.RecomputeErrorSummary();
    }

    // ---- stack ----------------------------------------------------------------------------------

    private static void Fincstp(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        c._fsw &= unchecked((ushort)~FswC1);
        c._ftop = (c._ftop + 1) & 7;
    }

    private static void Fdecstp(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        c._fsw &= unchecked((ushort)~FswC1);
        c._ftop = (c._ftop - 1) & 7;
    }

    private static void Ffree(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        c._fsw &= unchecked((ushort)~FswC1); // undefined in the SDM; cleared on the host
        c._fvalid &= (byte)~(1 << c.Phys(d.R0));
        if (IsPopForm(d.Code)) c.Pop();
    }

    private static void Fnop(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
    }

    // ---- one-operand arithmetic -----------------------------------------------------------------

    /// <summary>ST(0) = op(ST(0)); an empty ST(0) is a stack underflow (masked: the indefinite).</summary>
    private void UnarySt0(ref DecodedInstruction d, delegate*<Float80, ref FpContext, Float80> op)
    {
        FpuEnter();
        FpuNoteInstruction(ref d);
        if (IsEmpty(0))
        {
            if (StackFault(overflow: false)) SetSt(0, Float80.Indefinite);
            return;
        }
        var ctx = NewContext();
        var r = op(St(0), ref ctx);
        if (FpuCommit(ctx)) SetSt(0, r);
    }

    private static Float80 Negate(Float80 a, ref FpContext c) => a.Negate();
    private static Float80 Absolute(Float80 a, ref FpContext c) => a.Abs();

    private static void Fchs(Cpu c, ref DecodedInstruction d) => c.UnarySt0(ref d, &Negate);
    private static void Fabs(Cpu c, ref DecodedInstruction d) => c.UnarySt0(ref d, &Absolute);
    private static void Fsqrt(Cpu c, ref DecodedInstruction d) => c.UnarySt0(ref d, &Fp80.Sqrt);
    private static void Frndint(Cpu c, ref DecodedInstruction d) => c.UnarySt0(ref d, &Fp80.RoundToIntegral);

    private static void Fscale(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        if (c.IsEmpty(0) || c.IsEmpty(1))
        {
            if (c.StackFault(overflow: false)) c.SetSt(0, Float80.Indefinite);
            return;
        }
        var ctx = c.NewContext();
        var r = Fp80.Scale(c.St(0), c.St(1), ref ctx);
        if (c.FpuCommit(ctx)) c.SetSt(0, r);
    }

    private static void Fxtract(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        if (c.IsEmpty(0))
        {
            if (!c.StackFault(overflow: false)) return;
            c.SetSt(0, Float80.Indefinite);
            c.Push(Float80.Indefinite);
            return;
        }
        if (!c.IsEmptyPhys((c._ftop - 1) & 7))
        {
            if (!c.StackFault(overflow: true)) return;
            c.SetSt(0, Float80.Indefinite);
            c.Push(Float80.Indefinite);
            return;
        }
        var ctx = c.NewContext();
        var (exponent, significand) = Fp80.Extract(c.St(0), ref ctx);
        if (!c.FpuCommit(ctx)) return;
        c.SetSt(0, exponent);
        c.Push(significand);
    }

    private static void Fprem(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter();
        c.FpuNoteInstruction(ref d);
        if (c.IsEmpty(0) || c.IsEmpty(1))
        {
            c.SetC2(false);
            if (c.StackFault(overflow: false)) c.SetSt(0, Float80.Indefinite);
            return;
        }
        var ctx = c.NewContext();
        bool ieee = (Code)d.Code == Code.Fprem1;
        var r = Fp80.Remainder(c.St(0), c.St(1), ieee, ref ctx, out int q, out bool incomplete);
        bool store = c.FpuCommit(ctx);
        c.SetC2(false);
        if (!store) return;
        c.SetSt(0, r);
        // A NaN result (propagated or invalid) leaves C0, C1 and C3 as they were.
        if (r.IsNaN) return;
        ushort sw = (ushort)(c._fsw & ~FswConditions);
        if (incomplete) sw |= FswC2;
        else
        {
            if ((q & 4) != 0) sw |= FswC0;
            if ((q & 2) != 0) sw |= FswC3;
            if ((q & 1) != 0) sw |= FswC1;
        }
        c._fsw = sw;
    }
}
