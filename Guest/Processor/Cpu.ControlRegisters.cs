namespace VmFt.Guest.Processor;

// Control registers: the side effects of changing the processor's mode.
public sealed unsafe partial class Cpu
{
    /// <summary>MOV CR0: checks the reserved combinations and flushes translations when the mode changes.</summary>
    internal void WriteCr0(uint value)
    {
        // PG without PE, or NW without CD, is #GP(0).
        if ((value & CR0_PG) != 0 && (value & CR0_PE) == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        if ((value & CR0_NW) != 0 && (value & CR0_CD) == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        value |= CR0_ET; // hard-wired on processors with an integrated FPU interface
        uint changed = _cr0 ^ value;
        _cr0 = value;
        if ((changed & (CR0_PG | CR0_PE | CR0_WP)) != 0) FlushTlb(global: true);
        if ((changed & CR0_NE) != 0) UpdateFerr();
        if ((changed & CR0_PE) != 0 && (value & CR0_PE) == 0) SetCpl(0);
    }
}
