using Iced.Intel;
using VmFt.Guest.Processor.X87;

namespace VmFt.Guest.Processor;

// The x87 handler table entries. Iced merges "WAIT; FNxxx" into one form (FSTENV is 9B D9 /6):
// those handlers do the WAIT's checks first. Escape opcodes that are not P6 instructions (the
// 287XL's FRSTPM, the 387SL's FSTDW/FSTSG, SSE3's FISTTP) are undefined opcodes: #NM under
// CR0.EM/TS like any escape, otherwise #UD without looking at pending exceptions (SDM vol. 3,
// "Undefined opcodes" in the architecture-compatibility chapter).
public sealed unsafe partial class Cpu
{
    /// <summary>True for every Iced form with an x87 escape opcode (D8-DF), FWAIT-merged forms included.</summary>
    internal static bool[] X87Forms => X87FormTable.Forms;

    // Its own type, so that it is built before the handler table needs it whatever the order of static fields.
    private static class X87FormTable
    {
        internal static readonly bool[] Forms = BuildX87Forms();
    }

    private static bool[] BuildX87Forms()
    {
        var forms = new bool[Enum.GetValues<Code>().Length];
        foreach (Code code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            uint first = op.OpCodeLength == 2 ? op.OpCode >> 8 : op.OpCode;
            if (op.Encoding != EncodingKind.Legacy || op.Table != OpCodeTableKind.Normal || first is < 0xD8 or > 0xDF) continue;
            if (!op.Mode16 && !op.Mode32) continue;
            forms[(int)code] = true;
        }
        return forms;
    }

    /// <summary>The 11-bit x87 opcode of the instruction just decoded: the escape byte's low 3 bits and the ModRM byte.</summary>
    /// <summary>Whether the instruction just decoded starts (after its prefixes) with an escape byte D8-DF.</summary>
    private bool StartsWithX87Escape()
    {
        var bytes = _codeReader.Bytes;
        for (int i = 0; i < _codeReader.Count; i++)
        {
            byte b = bytes[i];
            if (b is 0x26 or 0x2E or 0x36 or 0x3E or 0x64 or 0x65 or 0x66 or 0x67 or 0xF0 or 0xF2 or 0xF3) continue;
            return b is >= 0xD8 and <= 0xDF;
        }
        return false;
    }

    private ushort X87Opcode()
    {
        var bytes = _codeReader.Bytes;
        int n = _codeReader.Count;
        for (int i = 0; i + 1 < n; i++)
        {
            byte b = bytes[i];
            if (b is >= 0xD8 and <= 0xDF) return (ushort)(((b & 7) << 8) | bytes[i + 1]);
        }
        return 0;
    }

    private static void RegisterX87(delegate*<Cpu, ref DecodedInstruction, void>[] t)
    {
        for (int i = 0; i < X87Forms.Length; i++)
            if (X87Forms[i]) t[i] = &X87Undefined;

        // Loads and constants.
        Set(t, "Fld_m32fp", &FldM32);
        Set(t, "Fld_m64fp", &FldM64);
        Set(t, "Fld_m80fp", &FldM80);
        Set(t, "Fld_sti", &FldSti);
        Set(t, "Fild_m16int", &FildM16);
        Set(t, "Fild_m32int", &FildM32);
        Set(t, "Fild_m64int", &FildM64);
        Set(t, "Fbld_m80bcd", &Fbld);
        Set(t, "Fld1", &FldConstant);
        Set(t, "Fldl2t", &FldConstant);
        Set(t, "Fldl2e", &FldConstant);
        Set(t, "Fldpi", &FldConstant);
        Set(t, "Fldlg2", &FldConstant);
        Set(t, "Fldln2", &FldConstant);
        Set(t, "Fldz", &FldConstant);

        // Stores.
        Set(t, "Fst_m32fp", &FstM32);
        Set(t, "Fstp_m32fp", &FstM32);
        Set(t, "Fst_m64fp", &FstM64);
        Set(t, "Fstp_m64fp", &FstM64);
        Set(t, "Fstp_m80fp", &FstpM80);
        Set(t, "Fst_sti", &FstSti);
        Set(t, "Fstp_sti", &FstSti);
        Set(t, "Fstpnce_sti", &FstpNoCheck); // D9 D8+i
        Set(t, "Fstp_sti_DFD0", &FstSti); // DF D0+i and DF D8+i: aliases too
        Set(t, "Fstp_sti_DFD8", &FstSti);
        Set(t, "Fist_m16int", &FistM16);
        Set(t, "Fistp_m16int", &FistM16);
        Set(t, "Fist_m32int", &FistM32);
        Set(t, "Fistp_m32int", &FistM32);
        Set(t, "Fistp_m64int", &FistM64);
        Set(t, "Fbstp_m80bcd", &Fbstp);

        Set(t, "Fxch_st0_sti", &Fxch);
        Set(t, "Fxch_st0_sti_DDC8", &Fxch);
        Set(t, "Fxch_st0_sti_DFC8", &Fxch);
        foreach (var cc in (ReadOnlySpan<string>)["b", "e", "be", "u", "nb", "ne", "nbe", "nu"])
            Set(t, $"Fcmov{cc}_st0_sti", &Fcmov);

        RegisterX87Arithmetic<OpAdd>(t, "add");
        RegisterX87Arithmetic<OpMul>(t, "mul");
        RegisterX87Arithmetic<OpSub>(t, "sub");
        RegisterX87Arithmetic<OpSubr>(t, "subr");
        RegisterX87Arithmetic<OpDiv>(t, "div");
        RegisterX87Arithmetic<OpDivr>(t, "divr");

        // Comparisons.
        Set(t, "Fcom_m32fp", &FcomM32);
        Set(t, "Fcomp_m32fp", &FcomM32);
        Set(t, "Fcom_m64fp", &FcomM64);
        Set(t, "Fcomp_m64fp", &FcomM64);
        Set(t, "Ficom_m16int", &FicomM16);
        Set(t, "Ficomp_m16int", &FicomM16);
        Set(t, "Ficom_m32int", &FicomM32);
        Set(t, "Ficomp_m32int", &FicomM32);
        Set(t, "Fcom_st0_sti", &FcomSti);
        Set(t, "Fcomp_st0_sti", &FcomSti);
        Set(t, "Fcom_st0_sti_DCD0", &FcomSti);  // DC D0+i, DC D8+i, DE D0+i: aliases of FCOM/FCOMP ST(i)
        Set(t, "Fcomp_st0_sti_DCD8", &FcomSti);
        Set(t, "Fcomp_st0_sti_DED0", &FcomSti);
        Set(t, "Fucom_st0_sti", &FcomSti);
        Set(t, "Fucomp_st0_sti", &FcomSti);
        Set(t, "Fcompp", &FcomSti);
        Set(t, "Fucompp", &FcomSti);
        Set(t, "Ftst", &Ftst);
        Set(t, "Fxam", &Fxam);
        Set(t, "Fcomi_st0_sti", &Fcomi);
        Set(t, "Fcomip_st0_sti", &Fcomi);
        Set(t, "Fucomi_st0_sti", &Fcomi);
        Set(t, "Fucomip_st0_sti", &Fcomi);

        // One-operand and stack instructions.
        Set(t, "Fchs", &Fchs);
        Set(t, "Fabs", &Fabs);
        Set(t, "Fsqrt", &Fsqrt);
        Set(t, "Frndint", &Frndint);
        Set(t, "Fscale", &Fscale);
        Set(t, "Fxtract", &Fxtract);
        Set(t, "Fprem", &Fprem);
        Set(t, "Fprem1", &Fprem);
        Set(t, "Fincstp", &Fincstp);
        Set(t, "Fdecstp", &Fdecstp);
        Set(t, "Ffree_sti", &Ffree);
        Set(t, "Ffreep_sti", &Ffree);
        Set(t, "Fnop", &Fnop);

        // Transcendentals.
        Set(t, "Fsin", &Fsin);
        Set(t, "Fcos", &Fcos);
        Set(t, "Fsincos", &Fsincos);
        Set(t, "Fptan", &Fptan);
        Set(t, "Fpatan", &Fpatan);
        Set(t, "F2xm1", &F2xm1);
        Set(t, "Fyl2x", &Fyl2x);
        Set(t, "Fyl2xp1", &Fyl2xp1);

        // Control.
        Set(t, "Fninit", &Finit);
        Set(t, "Finit", &Finit);
        Set(t, "Fnclex", &Fclex);
        Set(t, "Fclex", &Fclex);
        Set(t, "Fldcw_m2byte", &Fldcw);
        Set(t, "Fnstcw_m2byte", &Fstcw);
        Set(t, "Fstcw_m2byte", &Fstcw);
        Set(t, "Fnstsw_m2byte", &Fstsw);
        Set(t, "Fstsw_m2byte", &Fstsw);
        Set(t, "Fnstsw_AX", &Fstsw);
        Set(t, "Fstsw_AX", &Fstsw);
        Set(t, "Fnstenv_m14byte", &Fstenv);
        Set(t, "Fstenv_m14byte", &Fstenv);
        Set(t, "Fnstenv_m28byte", &Fstenv);
        Set(t, "Fstenv_m28byte", &Fstenv);
        Set(t, "Fldenv_m14byte", &Fldenv);
        Set(t, "Fldenv_m28byte", &Fldenv);
        Set(t, "Fnsave_m94byte", &Fsave);
        Set(t, "Fsave_m94byte", &Fsave);
        Set(t, "Fnsave_m108byte", &Fsave);
        Set(t, "Fsave_m108byte", &Fsave);
        Set(t, "Frstor_m94byte", &Frstor);
        Set(t, "Frstor_m108byte", &Frstor);
        // The 8087's FENI/FDISI and the 287's FSETPM: the 387 and later execute them as FNOP.
        foreach (var name in (ReadOnlySpan<string>)["Fneni", "Feni", "Fndisi", "Fdisi", "Fnsetpm", "Fsetpm"])
            Set(t, name, &LegacyNoOp);
        Set(t, "Wait", &FpuWait);
        Set(t, "Fxsave_m512byte", &Fxsave);
        Set(t, "Fxrstor_m512byte", &Fxrstor);
    }

    private static void RegisterX87Arithmetic<TOp>(delegate*<Cpu, ref DecodedInstruction, void>[] t, string op) where TOp : struct, IFpBinary
    {
        Set(t, $"F{op}_m32fp", &ArithM32<TOp>);
        Set(t, $"F{op}_m64fp", &ArithM64<TOp>);
        Set(t, $"Fi{op}_m16int", &ArithM16Int<TOp>);
        Set(t, $"Fi{op}_m32int", &ArithM32Int<TOp>);
        Set(t, $"F{op}_st0_sti", &ArithSt0Sti<TOp>);
        Set(t, $"F{op}_sti_st0", &ArithStiSt0<TOp>);
        Set(t, $"F{op}p_sti_st0", &ArithStiSt0Pop<TOp>);
    }

    /// <summary>Escape opcodes the P6 does not define: #NM under EM/TS, else #UD.</summary>
    private static void X87Undefined(Cpu c, ref DecodedInstruction d)
    {
        c.FpuEnter(waiting: false);
        InvalidOpcode();
    }

    /// <summary>WAIT/FWAIT: #NM when both MP and TS are set; then any pending unmasked exception.</summary>
    private static void FpuWait(Cpu c, ref DecodedInstruction d)
    {
        if ((c._cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) ThrowFault(ExceptionVectors.DeviceNotAvailable);
        if ((c._fsw & FswEs) != 0) c.PendingFpuException();
    }

    /// <summary>The WAIT in front of a merged form (FSTENV is WAIT; FNSTENV): its own #NM rule, then pending exceptions.</summary>
    private void MergedWait(ref DecodedInstruction d)
    {
        if (d.Length > 0 && IsMergedWaitForm(d.Code)) FpuWait(this, ref d);
    }

    private static bool IsMergedWaitForm(ushort code) => (Code)code is Code.Finit or Code.Fclex or Code.Fstcw_m2byte
        or Code.Fstsw_m2byte or Code.Fstsw_AX or Code.Fstenv_m14byte or Code.Fstenv_m28byte or Code.Fsave_m94byte
        or Code.Fsave_m108byte or Code.Feni or Code.Fdisi or Code.Fsetpm;

    private static void LegacyNoOp(Cpu c, ref DecodedInstruction d)
    {
        c.MergedWait(ref d);
        c.FpuEnter(waiting: false);
    }
}
