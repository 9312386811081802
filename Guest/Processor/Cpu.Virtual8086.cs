namespace VmFt.Guest.Processor;

// Virtual-8086 mode (Intel SDM vol. 3, ch. 20): EFLAGS.VM = 1 in protected mode. Segment loads
// work as in real mode (Cpu.Descriptors.cs), CPL is 3, and I/O is always checked against the TSS
// permission bitmap (Cpu.InputOutput.cs). With IOPL < 3 the IOPL-sensitive instructions CLI, STI,
// PUSHF, POPF, INT n and IRET raise #GP(0), so that a monitor at ring 0 can emulate them; INT3,
// INTO and exceptions go to their protected-mode handlers directly (Cpu.Interrupts.cs). The mode
// is entered by IRET at CPL 0 with VM set in the popped EFLAGS, or by a task switch to a TSS
// whose EFLAGS has VM set. CR4.VME (virtual interrupt flags, the redirection bitmap) is not
// implemented, and CPUID does not report VME.
public sealed unsafe partial class Cpu
{
    /// <summary>
    /// IRET at CPL 0 to an interrupted 8086 program: the 32-bit frame holds, above EIP, CS and
    /// EFLAGS, the program's ESP, SS, ES, DS, FS and GS (SDM figure 20-4).
    /// </summary>
    private void ReturnToVirtual8086(uint eip, ushort cs, uint flags)
    {
        // Every read first, so that a short stack faults with nothing changed.
        uint esp = PeekStack(12, true);
        ushort ss = (ushort)PeekStack(16, true);
        ushort es = (ushort)PeekStack(20, true);
        ushort ds = (ushort)PeekStack(24, true);
        ushort fs = (ushort)PeekStack(28, true);
        ushort gs = (ushort)PeekStack(32, true);

        // At CPL 0 every flag loads, VM and IOPL included (SDM IRET, RETURN-TO-VIRTUAL-8086-MODE).
        _flags = flags & ImplementedFlags;
        SetCpl(3);
        // VM is set: these loads take the virtual-8086 path (base = selector * 16, 64 KiB, DPL 3).
        LoadSegment((int)SegmentRegister.CS, cs);
        LoadSegment((int)SegmentRegister.SS, ss);
        LoadSegment((int)SegmentRegister.ES, es);
        LoadSegment((int)SegmentRegister.DS, ds);
        LoadSegment((int)SegmentRegister.FS, fs);
        LoadSegment((int)SegmentRegister.GS, gs);
        R[ESP] = esp;
        // A target beyond the 64 KiB limit faults on the fetch, in virtual-8086 mode.
        _eip = eip;
    }

    /// <summary>IRET executed in virtual-8086 mode: with IOPL 3 a real-mode style return that cannot change VM or IOPL; otherwise #GP(0).</summary>
    private void ReturnWithinVirtual8086(bool op32)
    {
        if (Iopl < 3) ThrowFault(ExceptionVectors.GeneralProtection);
        uint size = op32 ? 4u : 2u;
        uint eip = PeekStack(0, op32);
        ushort cs = (ushort)PeekStack(size, op32);
        uint popped = PeekStack(2 * size, op32);
        if (eip > S[(int)SegmentRegister.CS].ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
        AdjustStack(3 * size);
        LoadSegment((int)SegmentRegister.CS, cs);
        _eip = eip;
        // VM, IOPL, VIP and VIF stay; the 16-bit form loads only the low word (SDM IRET, virtual-8086 mode).
        uint writable = ArithFlags | TF | IF | DF | NT;
        if (op32) writable |= RF | AC | ID;
        _flags = ((_flags & ~writable) | (popped & writable)) & ImplementedFlags;
    }
}
