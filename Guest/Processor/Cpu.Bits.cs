using System.Numerics;
using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// BT BTS BTR BTC, BSF BSR, SETcc, CMOVcc.
public sealed unsafe partial class Cpu
{
    // ---- condition codes as types, so that each Jcc/SETcc/CMOVcc handler tests one constant ----

    internal interface ICondition { static abstract int Cc { get; } }
    internal struct CcO : ICondition { public static int Cc => 0; }
    internal struct CcNo : ICondition { public static int Cc => 1; }
    internal struct CcB : ICondition { public static int Cc => 2; }
    internal struct CcAe : ICondition { public static int Cc => 3; }
    internal struct CcE : ICondition { public static int Cc => 4; }
    internal struct CcNe : ICondition { public static int Cc => 5; }
    internal struct CcBe : ICondition { public static int Cc => 6; }
    internal struct CcA : ICondition { public static int Cc => 7; }
    internal struct CcS : ICondition { public static int Cc => 8; }
    internal struct CcNs : ICondition { public static int Cc => 9; }
    internal struct CcP : ICondition { public static int Cc => 10; }
    internal struct CcNp : ICondition { public static int Cc => 11; }
    internal struct CcL : ICondition { public static int Cc => 12; }
    internal struct CcGe : ICondition { public static int Cc => 13; }
    internal struct CcLe : ICondition { public static int Cc => 14; }
    internal struct CcG : ICondition { public static int Cc => 15; }

    /// <summary>Registers the forms of one condition; <see cref="ForEachCondition"/> calls it with each condition's type and Iced spelling.</summary>
    internal interface IConditionRegistrar
    {
        void Register<C>(delegate*<Cpu, ref DecodedInstruction, void>[] t, string cc) where C : struct, ICondition;
    }

    internal static void ForEachCondition<R>(delegate*<Cpu, ref DecodedInstruction, void>[] t, R r) where R : IConditionRegistrar
    {
        r.Register<CcO>(t, "o");
        r.Register<CcNo>(t, "no");
        r.Register<CcB>(t, "b");
        r.Register<CcAe>(t, "ae");
        r.Register<CcE>(t, "e");
        r.Register<CcNe>(t, "ne");
        r.Register<CcBe>(t, "be");
        r.Register<CcA>(t, "a");
        r.Register<CcS>(t, "s");
        r.Register<CcNs>(t, "ns");
        r.Register<CcP>(t, "p");
        r.Register<CcNp>(t, "np");
        r.Register<CcL>(t, "l");
        r.Register<CcGe>(t, "ge");
        r.Register<CcLe>(t, "le");
        r.Register<CcG>(t, "g");
    }

    // ---- bit tests --------------------------------------------------------------------------------

    internal interface IBitOp
    {
        /// <summary>The new operand value, or the same value for BT.</summary>
        static abstract uint Apply(uint v, uint mask);
        static abstract bool Writes { get; }
    }
    internal struct BtOp : IBitOp { public static bool Writes => false; public static uint Apply(uint v, uint mask) => v; }
    internal struct BtsOp : IBitOp { public static bool Writes => true; public static uint Apply(uint v, uint mask) => v | mask; }
    internal struct BtrOp : IBitOp { public static bool Writes => true; public static uint Apply(uint v, uint mask) => v & ~mask; }
    internal struct BtcOp : IBitOp { public static bool Writes => true; public static uint Apply(uint v, uint mask) => v ^ mask; }

    /// <summary>
    /// The bit-test core on the operand at offset <paramref name="ea"/> (memory) or register R0.
    /// Only CF changes (the selected bit); ZF is kept, the other flags (undefined) too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BitTest<Op, W>(Cpu c, ref DecodedInstruction d, uint ea, int bit) where Op : struct, IBitOp where W : struct, IOperandWidth
    {
        uint mask = 1u << bit;
        uint v;
        if (d.HasMemory)
        {
            if (Op.Writes)
            {
                c.LinearRead(d.Segment, ea, (uint)W.Bits / 8);
                uint lin = c.LinearWrite(d.Segment, ea, (uint)W.Bits / 8);
                v = W.ReadLinear(c, lin);
                W.WriteLinear(c, lin, Op.Apply(v, mask));
            }
            else
            {
                v = W.ReadLinear(c, c.LinearRead(d.Segment, ea, (uint)W.Bits / 8));
            }
        }
        else
        {
            v = W.GetReg(c, d.R0);
            if (Op.Writes) W.SetReg(c, d.R0, Op.Apply(v, mask));
        }
        c._flags = (c._flags & ~CF) | ((v >> bit) & 1);
    }

    /// <summary>BTx r/m, reg: on memory the signed bit offset selects the operand-sized word (offset >> 4 or >> 5 units from the address).</summary>
    private static void BitTestReg<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IBitOp where W : struct, IOperandWidth
    {
        uint offset = W.GetReg(c, d.R1);
        uint ea = 0;
        if (d.HasMemory)
        {
            int signed = W.Bits == 16 ? (short)offset : (int)offset;
            ea = c.Ea(ref d) + (uint)((signed >> (W.Bits == 16 ? 4 : 5)) * (W.Bits / 8));
            if (!d.AddrSize32) ea &= 0xFFFF;
        }
        BitTest<Op, W>(c, ref d, ea, (int)(offset & (uint)(W.Bits - 1)));
    }

    private static void BitTestImm<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IBitOp where W : struct, IOperandWidth
    {
        uint ea = d.HasMemory ? c.Ea(ref d) : 0;
        BitTest<Op, W>(c, ref d, ea, (int)(d.Imm & (uint)(W.Bits - 1)));
    }

    private static void RegisterBitTest<Op>(delegate*<Cpu, ref DecodedInstruction, void>[] t, string name) where Op : struct, IBitOp
    {
        Set(t, $"{name}_rm16_r16", &BitTestReg<Op, W16>);
        Set(t, $"{name}_rm32_r32", &BitTestReg<Op, W32>);
        Set(t, $"{name}_rm16_imm8", &BitTestImm<Op, W16>);
        Set(t, $"{name}_rm32_imm8", &BitTestImm<Op, W32>);
    }

    /// <summary>BSF/BSR: a zero source sets ZF and leaves the destination unchanged.</summary>
    private static void BitScan<W>(Cpu c, ref DecodedInstruction d, bool forward) where W : struct, IOperandWidth
    {
        uint v = c.ReadRm<W>(ref d, d.R1);
        if (v == 0)
        {
            c._flags |= ZF;
            return;
        }
        uint index = forward ? (uint)BitOperations.TrailingZeroCount(v) : (uint)BitOperations.Log2(v);
        W.SetReg(c, d.R0, index);
        c._flags &= ~ZF;
    }

    private static void Bsf<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => BitScan<W>(c, ref d, true);
    private static void Bsr<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => BitScan<W>(c, ref d, false);

    private static void Setcc<C>(Cpu c, ref DecodedInstruction d) where C : struct, ICondition
        => c.WriteRm<W8>(ref d, d.R0, c.Condition(C.Cc) ? 1u : 0u);

    /// <summary>CMOVcc: the source is read (and may fault) whatever the condition; a false condition leaves the destination as it was.</summary>
    private static void Cmovcc<C, W>(Cpu c, ref DecodedInstruction d) where C : struct, ICondition where W : struct, IOperandWidth
    {
        uint v = c.ReadRm<W>(ref d, d.R1);
        if (c.Condition(C.Cc)) W.SetReg(c, d.R0, v);
    }

    private struct BitsConditionRegistrar : IConditionRegistrar
    {
        public void Register<C>(delegate*<Cpu, ref DecodedInstruction, void>[] t, string cc) where C : struct, ICondition
        {
            Set(t, $"Set{cc}_rm8", &Setcc<C>);
            Set(t, $"Cmov{cc}_r16_rm16", &Cmovcc<C, W16>);
            Set(t, $"Cmov{cc}_r32_rm32", &Cmovcc<C, W32>);
        }
    }

    static partial void RegisterBits(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        RegisterBitTest<BtOp>(t, "Bt");
        RegisterBitTest<BtsOp>(t, "Bts");
        RegisterBitTest<BtrOp>(t, "Btr");
        RegisterBitTest<BtcOp>(t, "Btc");
        Set(t, "Bsf_r16_rm16", &Bsf<W16>);
        Set(t, "Bsf_r32_rm32", &Bsf<W32>);
        Set(t, "Bsr_r16_rm16", &Bsr<W16>);
        Set(t, "Bsr_r32_rm32", &Bsr<W32>);
        // Without BMI1 and LZCNT (CPUID reports neither), F3 0F BC and F3 0F BD are BSF and BSR with
        // an ignored REP prefix, as on every processor before those: Linux writes "rep; bsf" for
        // its bit searches so that newer processors run TZCNT instead.
        Set(t, "Tzcnt_r16_rm16", &Bsf<W16>);
        Set(t, "Tzcnt_r32_rm32", &Bsf<W32>);
        Set(t, "Lzcnt_r16_rm16", &Bsr<W16>);
        Set(t, "Lzcnt_r32_rm32", &Bsr<W32>);
        ForEachCondition(t, new BitsConditionRegistrar());
    }
}
