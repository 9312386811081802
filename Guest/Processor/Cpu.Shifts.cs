using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// ROL ROR RCL RCR SHL/SAL SHR SAR (by 1, CL, imm8) and SHLD/SHRD. The count is masked to 5 bits;
// a masked count of 0 changes nothing, not even the flags. OF is defined by the SDM for a count
// of 1 only; for other counts the same formula is applied, which is what Intel processors do for
// SHL, SHR, ROL and ROR. AF, undefined after a shift, is cleared.
public sealed unsafe partial class Cpu
{
    internal interface IShiftOp
    {
        /// <summary>Shifts <paramref name="v"/> by <paramref name="count"/> (1..31) and sets the flags.</summary>
        static abstract uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth;
    }

    internal struct RolOp : IShiftOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth
        {
            int n = count & (W.Bits - 1);
            uint r = n == 0 ? v : ((v << n) | (v >> (W.Bits - n))) & W.Mask;
            uint cf = r & 1;
            uint of = ((r >> (W.Bits - 1)) ^ cf) & 1;
            c._flags = (c._flags & ~(CF | OF)) | cf | (of << 11);
            return r;
        }
    }

    internal struct RorOp : IShiftOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth
        {
            int n = count & (W.Bits - 1);
            uint r = n == 0 ? v : ((v >> n) | (v << (W.Bits - n))) & W.Mask;
            uint cf = (r >> (W.Bits - 1)) & 1;
            uint of = (cf ^ (r >> (W.Bits - 2))) & 1;
            c._flags = (c._flags & ~(CF | OF)) | cf | (of << 11);
            return r;
        }
    }

    /// <summary>RCL: a rotation through CF over Bits + 1 positions (modulo 9 and 17 for 8 and 16 bits).</summary>
    internal struct RclOp : IShiftOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth
        {
            int n = W.Bits == 32 ? count : count % (W.Bits + 1);
            uint cf = c._flags & CF;
            uint r = v;
            if (n != 0)
            {
                // The value with CF above it, rotated left by n within Bits + 1 bits.
                ulong wide = ((ulong)cf << W.Bits) | v;
                int width = W.Bits + 1;
                wide = ((wide << n) | (wide >> (width - n))) & ((1UL << width) - 1);
                r = (uint)wide & W.Mask;
                cf = (uint)(wide >> W.Bits) & 1;
            }
            uint of = ((r >> (W.Bits - 1)) ^ cf) & 1;
            c._flags = (c._flags & ~(CF | OF)) | cf | (of << 11);
            return r;
        }
    }

    internal struct RcrOp : IShiftOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth
        {
            int n = W.Bits == 32 ? count : count % (W.Bits + 1);
            uint cf = c._flags & CF;
            uint r = v;
            if (n != 0)
            {
                ulong wide = ((ulong)cf << W.Bits) | v;
                int width = W.Bits + 1;
                wide = ((wide >> n) | (wide << (width - n))) & ((1UL << width) - 1);
                r = (uint)wide & W.Mask;
                cf = (uint)(wide >> W.Bits) & 1;
            }
            // OF: the two top bits of the result differ (for a count of 1, MSB(DEST) XOR CF before the rotation).
            uint of = ((r >> (W.Bits - 1)) ^ (r >> (W.Bits - 2))) & 1;
            c._flags = (c._flags & ~(CF | OF)) | cf | (of << 11);
            return r;
        }
    }

    internal struct ShlOp : IShiftOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth
        {
            ulong wide = (ulong)v << count;
            uint r = (uint)wide & W.Mask;
            uint cf = (uint)(wide >> W.Bits) & 1;
            uint of = ((r >> (W.Bits - 1)) ^ cf) & 1;
            c.SetArith(ZspFlags<W>(r) | cf | (of << 11));
            return r;
        }
    }

    internal struct ShrOp : IShiftOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth
        {
            uint r = v >> count;
            uint cf = (v >> (count - 1)) & 1;
            uint of = (v >> (W.Bits - 1)) & 1;
            c.SetArith(ZspFlags<W>(r) | cf | (of << 11));
            return r;
        }
    }

    internal struct SarOp : IShiftOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Apply<W>(Cpu c, uint v, int count) where W : struct, IOperandWidth
        {
            int s = (int)(v << (32 - W.Bits)) >> (32 - W.Bits);
            uint r = (uint)(s >> count) & W.Mask;
            uint cf = (uint)(s >> (count - 1)) & 1;
            c.SetArith(ZspFlags<W>(r) | cf);
            return r;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ShiftRm<Op, W>(Cpu c, ref DecodedInstruction d, int count) where Op : struct, IShiftOp where W : struct, IOperandWidth
    {
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            if (count == 0) return;
            W.WriteLinear(c, lin, Op.Apply<W>(c, W.ReadLinear(c, lin), count));
        }
        else
        {
            if (count == 0) return;
            W.SetReg(c, d.R0, Op.Apply<W>(c, W.GetReg(c, d.R0), count));
        }
    }

    private static void ShiftBy1<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IShiftOp where W : struct, IOperandWidth
        => ShiftRm<Op, W>(c, ref d, 1);

    private static void ShiftByCl<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IShiftOp where W : struct, IOperandWidth
        => ShiftRm<Op, W>(c, ref d, (int)c.R[ECX] & 31);

    private static void ShiftByImm<Op, W>(Cpu c, ref DecodedInstruction d) where Op : struct, IShiftOp where W : struct, IOperandWidth
        => ShiftRm<Op, W>(c, ref d, (int)d.Imm & 31);

    private static void RegisterShift<Op>(delegate*<Cpu, ref DecodedInstruction, void>[] t, string name) where Op : struct, IShiftOp
    {
        Set(t, $"{name}_rm8_1", &ShiftBy1<Op, W8>);
        Set(t, $"{name}_rm16_1", &ShiftBy1<Op, W16>);
        Set(t, $"{name}_rm32_1", &ShiftBy1<Op, W32>);
        Set(t, $"{name}_rm8_CL", &ShiftByCl<Op, W8>);
        Set(t, $"{name}_rm16_CL", &ShiftByCl<Op, W16>);
        Set(t, $"{name}_rm32_CL", &ShiftByCl<Op, W32>);
        Set(t, $"{name}_rm8_imm8", &ShiftByImm<Op, W8>);
        Set(t, $"{name}_rm16_imm8", &ShiftByImm<Op, W16>);
        Set(t, $"{name}_rm32_imm8", &ShiftByImm<Op, W32>);
    }

    // ---- double-precision shifts ------------------------------------------------------------------

    /// <summary>
    /// SHLD: DEST shifted left, filled from SRC. For 16-bit operands with counts above 16 (undefined
    /// in the SDM) the bits come from the pattern DEST:SRC:DEST, as Intel processors produce.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ShldApply<W>(Cpu c, uint dest, uint src, int count) where W : struct, IOperandWidth
    {
        uint r, cf;
        if (W.Bits == 32)
        {
            ulong wide = ((ulong)dest << 32) | src;
            r = (uint)((wide << count) >> 32);
            cf = (uint)(wide >> (64 - count)) & 1;
        }
        else
        {
            ulong wide = ((ulong)dest << 32) | ((ulong)src << 16) | dest;
            r = (uint)((wide << count) >> 32) & 0xFFFF;
            cf = (uint)(wide >> (48 - count)) & 1;
        }
        uint of = ((r ^ dest) >> (W.Bits - 1)) & 1;
        c.SetArith(ZspFlags<W>(r) | cf | (of << 11));
        return r;
    }

    /// <summary>SHRD: DEST shifted right, filled from SRC (16-bit counts above 16: pattern DEST:SRC:DEST, as for SHLD).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ShrdApply<W>(Cpu c, uint dest, uint src, int count) where W : struct, IOperandWidth
    {
        ulong wide = W.Bits == 32
            ? ((ulong)src << 32) | dest
            : ((ulong)dest << 32) | ((ulong)src << 16) | dest;
        uint r = (uint)(wide >> count) & W.Mask;
        uint cf = (uint)(wide >> (count - 1)) & 1;
        uint of = ((r ^ dest) >> (W.Bits - 1)) & 1;
        c.SetArith(ZspFlags<W>(r) | cf | (of << 11));
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DoubleShift<W>(Cpu c, ref DecodedInstruction d, int count, bool left) where W : struct, IOperandWidth
    {
        uint src = W.GetReg(c, d.R1);
        if (d.HasMemory)
        {
            uint lin = c.RmwLinear<W>(ref d);
            if (count == 0) return;
            uint v = W.ReadLinear(c, lin);
            W.WriteLinear(c, lin, left ? ShldApply<W>(c, v, src, count) : ShrdApply<W>(c, v, src, count));
        }
        else
        {
            if (count == 0) return;
            uint v = W.GetReg(c, d.R0);
            W.SetReg(c, d.R0, left ? ShldApply<W>(c, v, src, count) : ShrdApply<W>(c, v, src, count));
        }
    }

    private static void ShldImm<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => DoubleShift<W>(c, ref d, (int)d.Imm & 31, true);
    private static void ShldCl<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => DoubleShift<W>(c, ref d, (int)c.R[ECX] & 31, true);
    private static void ShrdImm<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => DoubleShift<W>(c, ref d, (int)d.Imm & 31, false);
    private static void ShrdCl<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => DoubleShift<W>(c, ref d, (int)c.R[ECX] & 31, false);

    static partial void RegisterShifts(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        RegisterShift<RolOp>(t, "Rol");
        RegisterShift<RorOp>(t, "Ror");
        RegisterShift<RclOp>(t, "Rcl");
        RegisterShift<RcrOp>(t, "Rcr");
        RegisterShift<ShlOp>(t, "Shl");
        RegisterShift<ShlOp>(t, "Sal"); // the /6 alias of SHL
        RegisterShift<ShrOp>(t, "Shr");
        RegisterShift<SarOp>(t, "Sar");
        Set(t, "Shld_rm16_r16_imm8", &ShldImm<W16>);
        Set(t, "Shld_rm32_r32_imm8", &ShldImm<W32>);
        Set(t, "Shld_rm16_r16_CL", &ShldCl<W16>);
        Set(t, "Shld_rm32_r32_CL", &ShldCl<W32>);
        Set(t, "Shrd_rm16_r16_imm8", &ShrdImm<W16>);
        Set(t, "Shrd_rm32_r32_imm8", &ShrdImm<W32>);
        Set(t, "Shrd_rm16_r16_CL", &ShrdCl<W16>);
        Set(t, "Shrd_rm32_r32_CL", &ShrdCl<W32>);
    }
}
