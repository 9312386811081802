namespace VmFt.Guest.Processor;

// MUL, IMUL (one, two and three operands), DIV, IDIV. After a multiply CF = OF = "the upper half
// is significant"; SF, ZF and PF (undefined) follow the low half of the result and AF is cleared.
// DIV and IDIV leave the flags alone (all undefined) and raise #DE on a zero divisor or a quotient
// that does not fit.
public sealed unsafe partial class Cpu
{
    private void SetMultiplyFlags<W>(uint low, bool significant) where W : struct, IOperandWidth
        => SetArith(ZspFlags<W>(low) | (significant ? CF | OF : 0));

    /// <summary>MUL r/m: AX = AL * src, DX:AX = AX * src, EDX:EAX = EAX * src.</summary>
    private static void Mul<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint src = c.ReadRm<W>(ref d, d.R0);
        ulong product = (ulong)W.GetReg(c, EAX) * src;
        uint low = (uint)product & W.Mask;
        uint high = (uint)(product >> W.Bits) & W.Mask;
        if (W.Bits == 8)
        {
            W16.SetReg(c, EAX, (uint)product);
        }
        else
        {
            W.SetReg(c, EAX, low);
            W.SetReg(c, EDX, high);
        }
        c.SetMultiplyFlags<W>(low, high != 0);
    }

    private static long SignExtend<W>(uint v) where W : struct, IOperandWidth
        => (int)(v << (32 - W.Bits)) >> (32 - W.Bits);

    /// <summary>IMUL r/m (one operand): signed, double-width result in AX, DX:AX or EDX:EAX.</summary>
    private static void Imul1<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        long src = SignExtend<W>(c.ReadRm<W>(ref d, d.R0));
        long product = SignExtend<W>(W.GetReg(c, EAX)) * src;
        uint low = (uint)product & W.Mask;
        if (W.Bits == 8)
        {
            W16.SetReg(c, EAX, (uint)product);
        }
        else
        {
            W.SetReg(c, EAX, low);
            W.SetReg(c, EDX, (uint)(product >> W.Bits) & W.Mask);
        }
        c.SetMultiplyFlags<W>(low, product != SignExtend<W>(low));
    }

    /// <summary>IMUL reg, r/m (two operands) and IMUL reg, r/m, imm (three): truncated signed product.</summary>
    private static void Imul2<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        long product = SignExtend<W>(c.ReadRm<W>(ref d, d.R1)) * SignExtend<W>(W.GetReg(c, d.R0));
        StoreImul<W>(c, ref d, product);
    }

    private static void Imul3<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        long product = SignExtend<W>(c.ReadRm<W>(ref d, d.R1)) * SignExtend<W>(d.Imm & W.Mask);
        StoreImul<W>(c, ref d, product);
    }

    private static void StoreImul<W>(Cpu c, ref DecodedInstruction d, long product) where W : struct, IOperandWidth
    {
        uint low = (uint)product & W.Mask;
        W.SetReg(c, d.R0, low);
        c.SetMultiplyFlags<W>(low, product != SignExtend<W>(low));
    }

    private static void DivideError() => ThrowFault(ExceptionVectors.DivideError);

    /// <summary>DIV r/m: unsigned; quotient to AL/AX/EAX, remainder to AH/DX/EDX.</summary>
    private static void Div<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        uint divisor = c.ReadRm<W>(ref d, d.R0);
        if (divisor == 0) DivideError();
        ulong dividend = W.Bits switch
        {
            8 => (ushort)c.R[EAX],
            16 => ((c.R[EDX] & 0xFFFF) << 16) | (c.R[EAX] & 0xFFFF),
            _ => ((ulong)c.R[EDX] << 32) | c.R[EAX],
        };
        ulong quotient = dividend / divisor;
        if (quotient > W.Mask) DivideError();
        uint remainder = (uint)(dividend % divisor);
        StoreDivision<W>(c, (uint)quotient, remainder);
    }

    /// <summary>IDIV r/m: signed, quotient truncated toward zero; #DE when it falls outside the signed range.</summary>
    private static void Idiv<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        long divisor = SignExtend<W>(c.ReadRm<W>(ref d, d.R0));
        if (divisor == 0) DivideError();
        long dividend = W.Bits switch
        {
            8 => (short)c.R[EAX],
            16 => (int)(((c.R[EDX] & 0xFFFF) << 16) | (c.R[EAX] & 0xFFFF)),
            _ => (long)(((ulong)c.R[EDX] << 32) | c.R[EAX]),
        };
        // long.MinValue / -1 does not fit anywhere (and would throw on the host).
        if (dividend == long.MinValue && divisor == -1) DivideError();
        long quotient = dividend / divisor;
        long max = (long)(W.Sign - 1);
        if (quotient > max || quotient < -max - 1) DivideError();
        long remainder = dividend % divisor;
        StoreDivision<W>(c, (uint)quotient & W.Mask, (uint)remainder & W.Mask);
    }

    private static void StoreDivision<W>(Cpu c, uint quotient, uint remainder) where W : struct, IOperandWidth
    {
        if (W.Bits == 8)
        {
            W16.SetReg(c, EAX, (quotient & 0xFF) | ((remainder & 0xFF) << 8));
        }
        else
        {
            W.SetReg(c, EAX, quotient);
            W.SetReg(c, EDX, remainder);
        }
    }

    static partial void RegisterMultiplyDivide(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        Set(t, "Mul_rm8", &Mul<W8>);
        Set(t, "Mul_rm16", &Mul<W16>);
        Set(t, "Mul_rm32", &Mul<W32>);
        Set(t, "Imul_rm8", &Imul1<W8>);
        Set(t, "Imul_rm16", &Imul1<W16>);
        Set(t, "Imul_rm32", &Imul1<W32>);
        Set(t, "Imul_r16_rm16", &Imul2<W16>);
        Set(t, "Imul_r32_rm32", &Imul2<W32>);
        Set(t, "Imul_r16_rm16_imm16", &Imul3<W16>);
        Set(t, "Imul_r32_rm32_imm32", &Imul3<W32>);
        Set(t, "Imul_r16_rm16_imm8", &Imul3<W16>);
        Set(t, "Imul_r32_rm32_imm8", &Imul3<W32>);
        Set(t, "Div_rm8", &Div<W8>);
        Set(t, "Div_rm16", &Div<W16>);
        Set(t, "Div_rm32", &Div<W32>);
        Set(t, "Idiv_rm8", &Idiv<W8>);
        Set(t, "Idiv_rm16", &Idiv<W16>);
        Set(t, "Idiv_rm32", &Idiv<W32>);
    }
}
