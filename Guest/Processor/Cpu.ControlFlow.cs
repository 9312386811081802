using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// Near transfers: Jcc, JMP, CALL, RET, LOOP/LOOPE/LOOPNE, JCXZ/JECXZ; INT n, INT3, INTO, BOUND, HLT.
// Targets are checked against the CS limit before anything else changes.
public sealed unsafe partial class Cpu
{
    /// <summary>The target of a near transfer: masked to 16 bits for 16-bit operand size, #GP(0) beyond the CS limit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint NearTarget(uint target, bool size32)
    {
        if (!size32) target &= 0xFFFF;
        if (target > S[(int)SegmentRegister.CS].ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
        return target;
    }

    private static void Jcc<C>(Cpu c, ref DecodedInstruction d) where C : struct, ICondition
    {
        if (c.Condition(C.Cc)) c.JumpNear(c._eip + d.Imm, d.OpSize32);
    }

    private static void JmpRel(Cpu c, ref DecodedInstruction d) => c.JumpNear(c._eip + d.Imm, d.OpSize32);
    private static void JmpRm16(Cpu c, ref DecodedInstruction d) => c.JumpNear(c.ReadRm<W16>(ref d, d.R0), false);
    private static void JmpRm32(Cpu c, ref DecodedInstruction d) => c.JumpNear(c.ReadRm<W32>(ref d, d.R0), true);

    private static void CallRel(Cpu c, ref DecodedInstruction d)
    {
        bool size32 = d.OpSize32;
        uint target = c.NearTarget(c._eip + d.Imm, size32);
        c.Push(c._eip, size32);
        c._eip = target;
    }

    private static void CallRm16(Cpu c, ref DecodedInstruction d)
    {
        uint target = c.NearTarget(c.ReadRm<W16>(ref d, d.R0), false);
        c.Push16((ushort)c._eip);
        c._eip = target;
    }

    private static void CallRm32(Cpu c, ref DecodedInstruction d)
    {
        uint target = c.NearTarget(c.ReadRm<W32>(ref d, d.R0), true);
        c.Push32(c._eip);
        c._eip = target;
    }

    private static void Ret16(Cpu c, ref DecodedInstruction d) => c.JumpNear(c.Pop16(), false);
    private static void Ret32(Cpu c, ref DecodedInstruction d) => c.JumpNear(c.Pop32(), true);

    private static void Ret16Imm(Cpu c, ref DecodedInstruction d)
    {
        c.JumpNear(c.Pop16(), false);
        c.AdjustStack(d.Imm & 0xFFFF);
    }

    private static void Ret32Imm(Cpu c, ref DecodedInstruction d)
    {
        c.JumpNear(c.Pop32(), true);
        c.AdjustStack(d.Imm & 0xFFFF);
    }

    // ---- LOOP family: the address size picks CX or ECX; the operand size masks the target ----

    internal interface ILoopKind { static abstract bool Continue(Cpu c); }
    internal struct LoopAlways : ILoopKind { public static bool Continue(Cpu c) => true; }
    internal struct LoopWhileZero : ILoopKind { public static bool Continue(Cpu c) => (c._flags & ZF) != 0; }
    internal struct LoopWhileNotZero : ILoopKind { public static bool Continue(Cpu c) => (c._flags & ZF) == 0; }

    private static void Loop<K, A>(Cpu c, ref DecodedInstruction d) where K : struct, ILoopKind where A : struct, IAddressSize
    {
        uint count = A.Get(c, ECX) - 1;
        if ((count & A.Mask) != 0)
        {
            if (K.Continue(c))
            {
                // The target check comes first: a faulting LOOP leaves the count as it was.
                uint target = c.NearTarget(c._eip + d.Imm, d.OpSize32);
                A.Set(c, ECX, count);
                c._eip = target;
                return;
            }
        }
        A.Set(c, ECX, count);
    }

    private static void Jcxz<A>(Cpu c, ref DecodedInstruction d) where A : struct, IAddressSize
    {
        if (A.Get(c, ECX) == 0) c.JumpNear(c._eip + d.Imm, d.OpSize32);
    }

    // ---- software interrupts, BOUND, HLT ----------------------------------------------------------

    /// <summary>INT n; in virtual-8086 mode it is IOPL-sensitive (#GP(0) below IOPL 3), unlike INT3 and INTO.</summary>
    private static void IntImm(Cpu c, ref DecodedInstruction d)
    {
        if ((c._flags & VM) != 0 && c.Iopl < 3) ThrowFault(ExceptionVectors.GeneralProtection);
        c.SoftwareInterrupt((int)(d.Imm & 0xFF));
    }

    private static void Int3(Cpu c, ref DecodedInstruction d) => c.SoftwareInterrupt(ExceptionVectors.Breakpoint);

    private static void Into(Cpu c, ref DecodedInstruction d)
    {
        if ((c._flags & OF) != 0) c.SoftwareInterrupt(ExceptionVectors.Overflow);
    }

    /// <summary>BOUND reg, m: #BR (a fault) unless lower ≤ reg ≤ upper, all signed.</summary>
    private static void Bound<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (!d.HasMemory) InvalidOpcode();
        uint ea = c.Ea(ref d);
        uint upperEa = ea + (uint)W.Bits / 8;
        if (!d.AddrSize32) upperEa &= 0xFFFF;
        int lower = SignedOf<W>(W.ReadLinear(c, c.LinearRead(d.Segment, ea, (uint)W.Bits / 8)));
        int upper = SignedOf<W>(W.ReadLinear(c, c.LinearRead(d.Segment, upperEa, (uint)W.Bits / 8)));
        int index = SignedOf<W>(W.GetReg(c, d.R0));
        if (index < lower || index > upper) ThrowFault(ExceptionVectors.BoundRange);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SignedOf<W>(uint v) where W : struct, IOperandWidth => (int)(v << (32 - W.Bits)) >> (32 - W.Bits);

    /// <summary>HLT: privileged (CPL 0) in protected and virtual-8086 mode.</summary>
    private static void Hlt(Cpu c, ref DecodedInstruction d)
    {
        if ((c._cr0 & CR0_PE) != 0 && c._cpl != 0) ThrowFault(ExceptionVectors.GeneralProtection);
        c.Halt();
    }

    private struct JccRegistrar : IConditionRegistrar
    {
        public void Register<C>(delegate*<Cpu, ref DecodedInstruction, void>[] t, string cc) where C : struct, ICondition
        {
            Set(t, $"J{cc}_rel8_16", &Jcc<C>);
            Set(t, $"J{cc}_rel8_32", &Jcc<C>);
            Set(t, $"J{cc}_rel16", &Jcc<C>);
            Set(t, $"J{cc}_rel32_32", &Jcc<C>);
        }
    }

    static partial void RegisterControlFlow(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        ForEachCondition(t, new JccRegistrar());
        Set(t, "Jmp_rel8_16", &JmpRel);
        Set(t, "Jmp_rel8_32", &JmpRel);
        Set(t, "Jmp_rel16", &JmpRel);
        Set(t, "Jmp_rel32_32", &JmpRel);
        Set(t, "Jmp_rm16", &JmpRm16);
        Set(t, "Jmp_rm32", &JmpRm32);
        Set(t, "Call_rel16", &CallRel);
        Set(t, "Call_rel32_32", &CallRel);
        Set(t, "Call_rm16", &CallRm16);
        Set(t, "Call_rm32", &CallRm32);
        Set(t, "Retnw", &Ret16);
        Set(t, "Retnd", &Ret32);
        Set(t, "Retnw_imm16", &Ret16Imm);
        Set(t, "Retnd_imm16", &Ret32Imm);
        foreach (var form in (ReadOnlySpan<string>)["16", "32"])
        {
            Set(t, $"Loop_rel8_{form}_CX", &Loop<LoopAlways, A16>);
            Set(t, $"Loop_rel8_{form}_ECX", &Loop<LoopAlways, A32>);
            Set(t, $"Loope_rel8_{form}_CX", &Loop<LoopWhileZero, A16>);
            Set(t, $"Loope_rel8_{form}_ECX", &Loop<LoopWhileZero, A32>);
            Set(t, $"Loopne_rel8_{form}_CX", &Loop<LoopWhileNotZero, A16>);
            Set(t, $"Loopne_rel8_{form}_ECX", &Loop<LoopWhileNotZero, A32>);
            Set(t, $"Jcxz_rel8_{form}", &Jcxz<A16>);
            Set(t, $"Jecxz_rel8_{form}", &Jcxz<A32>);
        }
        Set(t, "Int_imm8", &IntImm);
        Set(t, "Int3", &Int3);
        Set(t, "Into", &Into);
        Set(t, "Bound_r16_m1616", &Bound<W16>);
        Set(t, "Bound_r32_m3232", &Bound<W32>);
        Set(t, "Hlt", &Hlt);
    }
}
