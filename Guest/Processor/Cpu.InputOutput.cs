namespace VmFt.Guest.Processor;

// IN and OUT (imm8 port and DX; 8, 16, 32 bits) through the bus, and the protected-mode I/O
// permission check shared with INS/OUTS (Intel SDM vol. 1, 19.5).
public sealed unsafe partial class Cpu
{
    /// <summary>Offset of the I/O map base field in a 32-bit TSS.</summary>
    private const uint TssIoMapBase = 0x66;

    /// <summary>
    /// In protected mode with CPL > IOPL, and always in virtual-8086 mode, every byte of the access
    /// must have its bit clear in the TSS I/O permission bitmap; otherwise #GP(0). A 16-bit TSS
    /// has no bitmap, and a bitmap (two bytes read) beyond the TSS limit denies.
    /// </summary>
    internal void CheckIoPermission(ushort port, int size)
    {
        if ((_cr0 & CR0_PE) == 0) return;
        if ((_flags & VM) == 0 && _cpl <= (int)((_flags & IOPL) >> 12)) return;
        CheckIoBitmap(port, size);
    }

    private void CheckIoBitmap(ushort port, int size)
    {
        bool tss32 = (_tr.Access & 0x0F) is 0x09 or 0x0B;
        if (!tss32 || !_tr.Usable || _tr.Limit < TssIoMapBase + 1) ThrowFault(ExceptionVectors.GeneralProtection);
        uint mapBase = ReadSystem16(_tr.Base + TssIoMapBase);
        uint offset = mapBase + ((uint)port >> 3);
        if (offset + 1 > _tr.Limit) ThrowFault(ExceptionVectors.GeneralProtection);
        uint bits = ReadSystem16(_tr.Base + offset);
        uint mask = ((1u << size) - 1) << (port & 7);
        if ((bits & mask) != 0) ThrowFault(ExceptionVectors.GeneralProtection);
    }

    /// <summary>Raises now any page fault a write of <paramref name="size"/> bytes at <paramref name="linear"/> would raise.</summary>
    internal void ProbeWrite(uint linear, int size)
    {
        if ((_cr0 & CR0_PG) == 0) return;
        bool user = _cpl == 3;
        Translate(linear, write: true, user);
        uint last = linear + (uint)size - 1;
        if ((last >> 12) != (linear >> 12)) Translate(last, write: true, user);
    }

    private static void InImm<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => In<W>(c, (ushort)(d.Imm & 0xFF));
    private static void InDx<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => In<W>(c, (ushort)c.R[EDX]);
    private static void OutImm<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => Out<W>(c, (ushort)(d.Imm & 0xFF));
    private static void OutDx<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth => Out<W>(c, (ushort)c.R[EDX]);

    private static void In<W>(Cpu c, ushort port) where W : struct, IOperandWidth
    {
        c.CheckIoPermission(port, W.Bits / 8);
        W.SetReg(c, EAX, c._bus.PortRead(port, W.Bits / 8) & W.Mask);
    }

    private static void Out<W>(Cpu c, ushort port) where W : struct, IOperandWidth
    {
        c.CheckIoPermission(port, W.Bits / 8);
        c._bus.PortWrite(port, W.Bits / 8, W.GetReg(c, EAX));
    }

    static partial void RegisterInputOutput(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        Set(t, "In_AL_imm8", &InImm<W8>);
        Set(t, "In_AX_imm8", &InImm<W16>);
        Set(t, "In_EAX_imm8", &InImm<W32>);
        Set(t, "In_AL_DX", &InDx<W8>);
        Set(t, "In_AX_DX", &InDx<W16>);
        Set(t, "In_EAX_DX", &InDx<W32>);
        Set(t, "Out_imm8_AL", &OutImm<W8>);
        Set(t, "Out_imm8_AX", &OutImm<W16>);
        Set(t, "Out_imm8_EAX", &OutImm<W32>);
        Set(t, "Out_DX_AL", &OutDx<W8>);
        Set(t, "Out_DX_AX", &OutDx<W16>);
        Set(t, "Out_DX_EAX", &OutDx<W32>);
    }
}
