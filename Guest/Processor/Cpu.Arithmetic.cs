using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// ADD OR ADC SBB AND SUB XOR CMP (the eight group-1 operations), TEST, INC, DEC, NEG, NOT.
// One generic handler per operand shape; the operation and the width are type parameters.
public sealed unsafe partial class Cpu
{
    internal interface IAluOp
    {
        /// <summary>Computes the result and sets the flags.</summary>
        static abstract uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth;
        /// <summary>False for CMP: flags only.</summary>
        static abstract bool Writes { get; }
    }

    internal struct AddOp : IAluOp
    {
        public static bool Writes => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.AddWithFlags<W>(a, b, 0);
    }
    internal struct OrOp : IAluOp
    {
        public static bool Writes => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.LogicFlags<W>(a | b);
    }
    internal struct AdcOp : IAluOp
    {
        public static bool Writes => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.AddWithFlags<W>(a, b, c._flags & CF);
    }
    internal struct SbbOp : IAluOp
    {
        public static bool Writes => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.SubWithFlags<W>(a, b, c._flags & CF);
    }
    internal struct AndOp : IAluOp
    {
        public static bool Writes => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.LogicFlags<W>(a & b);
    }
    internal struct SubOp : IAluOp
    {
        public static bool Writes => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.SubWithFlags<W>(a, b, 0);
    }
    internal struct XorOp : IAluOp
    {
        public static bool Writes => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.LogicFlags<W>(a ^ b);
    }
    internal struct CmpOp : IAluOp
    {
        public static bool Writes => false;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.SubWithFlags<W>(a, b, 0);
    }
    internal struct TestOp : IAluOp
    {
        public static bool Writes => false;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint a, uint b) where W : struct, IOperandWidth => c.LogicFlags<W>(a & b);
    }

    /// <summary>op r/m, reg</summary>
    private static void AluRmReg<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IAluOp where W : struct, IOperandWidth
        => AluRm<Op, W>(c, ref d, W.GetReg(c, d.R1));

    /// <summary>op reg, r/m</summary>
    private static void AluRegRm<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IAluOp where W : struct, IOperandWidth
    {
        uint b = c.ReadRm<W>(ref d, d.R1);
        uint r = Op.Apply<W>(c, W.GetReg(c, d.R0), b);
        if (Op.Writes) W.SetReg(c, d.R0, r);
    }

    /// <summary>op r/m, imm (also AL/AX/EAX, imm: the accumulator is R0 = 0)</summary>
    private static void AluRmImm<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IAluOp where W : struct, IOperandWidth
        => AluRm<Op, W>(c, ref d, d.Imm & W.Mask);

    /// <summary>op r/m, b: a read-modify-write of memory (or a read for CMP/TEST), or of register R0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AluRm<Op, W>(Cpu c, ref DecodedInstruction d, uint b) where Op : struct, IAluOp where W : struct, IOperandWidth
    {
        if (d.HasMemory)
        {
            if (Op.Writes)
            {
                uint lin = c.RmwLinear<W>(ref d);
                uint r = Op.Apply<W>(c, W.ReadLinear(c, lin), b);
                W.WriteLinear(c, lin, r);
            }
            else
            {
                Op.Apply<W>(c, W.ReadLinear(c, c.LinearRead(d.Segment, c.Ea(ref d), (uint)W.Bits / 8)), b);
            }
        }
        else
        {
            uint r = Op.Apply<W>(c, W.GetReg(c, d.R0), b);
            if (Op.Writes) W.SetReg(c, d.R0, r);
        }
    }

    private static void RegisterAlu<Op>(delegate*<Cpu, ref DecodedInstruction, void>[] t, string name) where Op : struct, IAluOp
    {
        Set(t, $"{name}_rm8_r8", &AluRmReg<Op, W8>);
        Set(t, $"{name}_rm16_r16", &AluRmReg<Op, W16>);
        Set(t, $"{name}_rm32_r32", &AluRmReg<Op, W32>);
        Set(t, $"{name}_r8_rm8", &AluRegRm<Op, W8>);
        Set(t, $"{name}_r16_rm16", &AluRegRm<Op, W16>);
        Set(t, $"{name}_r32_rm32", &AluRegRm<Op, W32>);
        Set(t, $"{name}_AL_imm8", &AluRmImm<Op, W8>);
        Set(t, $"{name}_AX_imm16", &AluRmImm<Op, W16>);
        Set(t, $"{name}_EAX_imm32", &AluRmImm<Op, W32>);
        Set(t, $"{name}_rm8_imm8", &AluRmImm<Op, W8>);
        Set(t, $"{name}_rm8_imm8_82", &AluRmImm<Op, W8>);
        Set(t, $"{name}_rm16_imm16", &AluRmImm<Op, W16>);
        Set(t, $"{name}_rm32_imm32", &AluRmImm<Op, W32>);
        Set(t, $"{name}_rm16_imm8", &AluRmImm<Op, W16>);
        Set(t, $"{name}_rm32_imm8", &AluRmImm<Op, W32>);
    }

    /// <summary>TEST r/m, reg has no reg, r/m form; TEST r/m, imm has no sign-extended imm8 form.</summary>
    private static void RegisterTest(delegate*<Cpu, ref DecodedInstruction, void>[] t)
    {
        Set(t, "Test_rm8_r8", &AluRmReg<TestOp, W8>);
        Set(t, "Test_rm16_r16", &AluRmReg<TestOp, W16>);
        Set(t, "Test_rm32_r32", &AluRmReg<TestOp, W32>);
        Set(t, "Test_AL_imm8", &AluRmImm<TestOp, W8>);
        Set(t, "Test_AX_imm16", &AluRmImm<TestOp, W16>);
        Set(t, "Test_EAX_imm32", &AluRmImm<TestOp, W32>);
        Set(t, "Test_rm8_imm8", &AluRmImm<TestOp, W8>);
        Set(t, "Test_rm8_imm8_F6r1", &AluRmImm<TestOp, W8>);
        Set(t, "Test_rm16_imm16", &AluRmImm<TestOp, W16>);
        Set(t, "Test_rm16_imm16_F7r1", &AluRmImm<TestOp, W16>);
        Set(t, "Test_rm32_imm32", &AluRmImm<TestOp, W32>);
        Set(t, "Test_rm32_imm32_F7r1", &AluRmImm<TestOp, W32>);
    }

    // INC/DEC leave CF alone.
    private static void IncDec<W>(Cpu c, ref DecodedInstruction d, bool inc) where W : struct, IOperandWidth
    {
        uint carry = c._flags & CF;
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            uint v = W.ReadLinear(c, lin);
            uint r = inc ? c.AddWithFlags<W>(v, 1, 0) : c.SubWithFlags<W>(v, 1, 0);
            W.WriteLinear(c, lin, r);
        }
        else
        {
            uint v = W.GetReg(c, d.R0);
            uint r = inc ? c.AddWithFlags<W>(v, 1, 0) : c.SubWithFlags<W>(v, 1, 0);
            W.SetReg(c, d.R0, r);
        }
        c._flags = (c._flags & ~CF) | carry;
    }

    private static void Inc<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => IncDec<W>(c, ref d, true);
    private static void Dec<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => IncDec<W>(c, ref d, false);

    private static void Neg<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            W.WriteLinear(c, lin, c.SubWithFlags<W>(0, W.ReadLinear(c, lin), 0));
        }
        else
        {
            W.SetReg(c, d.R0, c.SubWithFlags<W>(0, W.GetReg(c, d.R0), 0));
        }
    }

    private static void Not<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            W.WriteLinear(c, lin, ~W.ReadLinear(c, lin) & W.Mask);
        }
        else
        {
            W.SetReg(c, d.R0, ~W.GetReg(c, d.R0) & W.Mask);
        }
    }

    /// <summary>SALC (D6): AL = CF ? FF : 00. Undocumented, but every Intel processor since the 8086 has it.</summary>
    private static void Salc(Cpu c, ref DecodedInstruction d) => c.SetReg8(EAX, (c._flags & CF) != 0 ? (byte)0xFF : (byte)0);

    private static void RegisterArithmetic(delegate*<Cpu, ref DecodedInstruction, void>[] t)
    {
        Set(t, "Salc", &Salc);
        RegisterAlu<AddOp>(t, "Add");
        RegisterAlu<OrOp>(t, "Or");
        RegisterAlu<AdcOp>(t, "Adc");
        RegisterAlu<SbbOp>(t, "Sbb");
        RegisterAlu<AndOp>(t, "And");
        RegisterAlu<SubOp>(t, "Sub");
        RegisterAlu<XorOp>(t, "Xor");
        RegisterAlu<CmpOp>(t, "Cmp");
        RegisterTest(t);
        Set(t, "Inc_rm8", &Inc<W8>);
        Set(t, "Inc_rm16", &Inc<W16>);
        Set(t, "Inc_rm32", &Inc<W32>);
        Set(t, "Inc_r16", &Inc<W16>);
        Set(t, "Inc_r32", &Inc<W32>);
        Set(t, "Dec_rm8", &Dec<W8>);
        Set(t, "Dec_rm16", &Dec<W16>);
        Set(t, "Dec_rm32", &Dec<W32>);
        Set(t, "Dec_r16", &Dec<W16>);
        Set(t, "Dec_r32", &Dec<W32>);
        Set(t, "Neg_rm8", &Neg<W8>);
        Set(t, "Neg_rm16", &Neg<W16>);
        Set(t, "Neg_rm32", &Neg<W32>);
        Set(t, "Not_rm8", &Not<W8>);
        Set(t, "Not_rm16", &Not<W16>);
        Set(t, "Not_rm32", &Not<W32>);
    }
}
