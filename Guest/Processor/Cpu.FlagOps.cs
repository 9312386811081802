namespace VmFt.Guest.Processor;

// CLC STC CMC CLD STD, CLI/STI with their privilege check, PUSHF/POPF with the rules for which
// bits a given privilege may change (Intel SDM vol. 2, POPF).
public sealed unsafe partial class Cpu
{
    private static void Clc(Cpu c, ref DecodedInstruction d) => c._flags &= ~CF;
    private static void Stc(Cpu c, ref DecodedInstruction d) => c._flags |= CF;
    private static void Cmc(Cpu c, ref DecodedInstruction d) => c._flags ^= CF;
    private static void Cld(Cpu c, ref DecodedInstruction d) => c._flags &= ~DF;
    private static void Std(Cpu c, ref DecodedInstruction d) => c._flags |= DF;

    private int Iopl => (int)((_flags & IOPL) >> 12);

    /// <summary>CLI/STI in protected mode need CPL ≤ IOPL (in virtual-8086 mode, IOPL = 3).</summary>
    private void CheckInterruptFlagPrivilege()
    {
        if ((_cr0 & CR0_PE) != 0 && _cpl > Iopl) ThrowFault(ExceptionVectors.GeneralProtection);
    }

    private static void Cli(Cpu c, ref DecodedInstruction d)
    {
        c.CheckInterruptFlagPrivilege();
        c._flags &= ~IF;
    }

    /// <summary>STI: when IF was clear, interrupts stay off until the next instruction has run.</summary>
    private static void Sti(Cpu c, ref DecodedInstruction d)
    {
        c.CheckInterruptFlagPrivilege();
        if ((c._flags & IF) == 0) c._interruptShadow = true;
        c._flags |= IF;
    }

    /// <summary>PUSHF/PUSHFD in virtual-8086 mode need IOPL = 3; the pushed image has VM and RF clear.</summary>
    private static void Pushf<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if ((c._flags & VM) != 0 && c.Iopl < 3) ThrowFault(ExceptionVectors.GeneralProtection);
        uint image = (c._flags | 2) & ~(VM | RF);
        if (W.Bits == 32) c.Push32(image);
        else c.Push16((ushort)image);
    }

    /// <summary>
    /// POPF/POPFD: IOPL changes only at CPL 0 (or in real mode), IF only when CPL ≤ IOPL; VM, VIP
    /// and VIF never change; RF is cleared by the 32-bit form; reserved bits stay 0 and bit 1 stays 1.
    /// </summary>
    private static void Popf<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        bool v86 = (c._flags & VM) != 0;
        if (v86 && c.Iopl < 3) ThrowFault(ExceptionVectors.GeneralProtection);
        uint v = W.Bits == 32 ? c.Pop32() : c.Pop16();
        uint writable = ArithFlags | TF | IF | DF | IOPL | NT | AC | ID;
        if ((c._cr0 & CR0_PE) != 0)
        {
            if (v86 || c._cpl > 0) writable &= ~IOPL;
            if (c._cpl > c.Iopl) writable &= ~IF;
        }
        if (W.Bits == 16) writable &= 0xFFFF;
        uint flags = (c._flags & ~writable) | (v & writable);
        if (W.Bits == 32) flags &= ~RF;
        c._flags = flags;
    }

    static partial void RegisterFlagOps(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        Set(t, "Clc", &Clc);
        Set(t, "Stc", &Stc);
        Set(t, "Cmc", &Cmc);
        Set(t, "Cld", &Cld);
        Set(t, "Std", &Std);
        Set(t, "Cli", &Cli);
        Set(t, "Sti", &Sti);
        Set(t, "Pushfw", &Pushf<W16>);
        Set(t, "Pushfd", &Pushf<W32>);
        Set(t, "Popfw", &Popf<W16>);
        Set(t, "Popfd", &Popf<W32>);
    }
}
