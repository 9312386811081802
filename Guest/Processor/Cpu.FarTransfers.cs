namespace VmFt.Guest.Processor;

// Far JMP, far CALL, far RET and IRET (Intel SDM vol. 2 for the pseudo-code, vol. 3 ch. 5.8 and 6.14
// for the privilege rules). Every check that can fault, and every stack read, happens before the
// first architectural register changes, so a fault restarts the instruction cleanly. Stack writes
// (far CALL) may have happened when a later check faults; the loop puts ESP back.
// Call gates are in Cpu.CallGates.cs, task gates, TSS targets and IRET with NT = 1 in
// Cpu.TaskSwitch.cs, IRET to and within virtual-8086 mode in Cpu.Virtual8086.cs.
public sealed unsafe partial class Cpu
{
    static partial void RegisterFarTransfers(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        Set(table, "Jmp_ptr1616", &JmpFarPointer);
        Set(table, "Jmp_ptr1632", &JmpFarPointer);
        Set(table, "Jmp_m1616", &JmpFarMemory);
        Set(table, "Jmp_m1632", &JmpFarMemory);
        Set(table, "Call_ptr1616", &CallFarPointer);
        Set(table, "Call_ptr1632", &CallFarPointer);
        Set(table, "Call_m1616", &CallFarMemory);
        Set(table, "Call_m1632", &CallFarMemory);
        Set(table, "Retfw", &ReturnFar);
        Set(table, "Retfd", &ReturnFar);
        Set(table, "Retfw_imm16", &ReturnFar);
        Set(table, "Retfd_imm16", &ReturnFar);
        Set(table, "Iretw", &InterruptReturn);
        Set(table, "Iretd", &InterruptReturn);
    }

    private static void JmpFarPointer(Cpu c, ref DecodedInstruction d) => c.FarJump((ushort)d.Imm2, d.Imm, d.OpSize32, call: false);
    private static void CallFarPointer(Cpu c, ref DecodedInstruction d) => c.FarJump((ushort)d.Imm2, d.Imm, d.OpSize32, call: true);

    private static void JmpFarMemory(Cpu c, ref DecodedInstruction d)
    {
        var (selector, offset) = c.ReadFarPointer(ref d);
        c.FarJump(selector, offset, d.OpSize32, call: false);
    }

    private static void CallFarMemory(Cpu c, ref DecodedInstruction d)
    {
        var (selector, offset) = c.ReadFarPointer(ref d);
        c.FarJump(selector, offset, d.OpSize32, call: true);
    }

    /// <summary>m16:16 or m16:32: the offset first, then the selector.</summary>
    private (ushort Selector, uint Offset) ReadFarPointer(ref DecodedInstruction d)
    {
        uint size = d.OpSize32 ? 4u : 2u;
        uint linear = LinearRead(d.Segment, Ea(ref d), size + 2);
        uint offset = d.OpSize32 ? ReadLinear32(linear) : ReadLinear16(linear);
        ushort selector = ReadLinear16(linear + size);
        return (selector, offset);
    }

    /// <summary>JMP or CALL to selector:offset.</summary>
    private void FarJump(ushort selector, uint offset, bool op32, bool call)
    {
        if (!op32) offset &= 0xFFFF;
        ushort oldCs = S[(int)SegmentRegister.CS].Selector;
        if (!ProtectedMode || V86)
        {
            // Real mode keeps the CS limit; the target must lie within it.
            if (offset > S[(int)SegmentRegister.CS].ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
            if (call)
            {
                Push(oldCs, op32);
                Push(_eip, op32);
            }
            LoadSegment((int)SegmentRegister.CS, selector);
            _eip = offset;
            return;
        }

        uint error = (uint)selector & 0xFFFC;
        if (error == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        ulong descriptor = ReadDescriptor(selector);
        if ((descriptor & (1UL << 44)) == 0)
        {
            // A system descriptor: the gates and TSSs a far transfer may name, nothing else.
            switch ((int)(descriptor >> 40) & 0x0F)
            {
                case 0x04:
                case 0x0C:
                    FarTransferThroughCallGate(selector, descriptor, call);
                    return;
                case 0x05:
                    FarTransferThroughTaskGate(selector, descriptor, call);
                    return;
                case 0x01:
                case 0x09:
                    FarTransferToTss(selector, descriptor, call);
                    return;
                default:
                    ThrowFault(ExceptionVectors.GeneralProtection, error);
                    return;
            }
        }
        var cs = CheckFarTarget(selector, descriptor);
        if (offset > cs.ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
        if (call)
        {
            // Stack overflow faults (#SS) here; the loop restores ESP.
            Push(oldCs, op32);
            Push(_eip, op32);
        }
        MarkAccessed(selector, descriptor);
        cs.Access |= 1;
        SetCodeSegment(cs, _cpl);
        _eip = offset;
    }

    /// <summary>The protected-mode checks on a far JMP/CALL target that is a code segment (same privilege).</summary>
    private SegmentCache CheckFarTarget(ushort selector, ulong descriptor)
    {
        uint error = (uint)selector & 0xFFFC;
        var cs = ParseDescriptor(selector, descriptor);
        if (!cs.IsCode) ThrowFault(ExceptionVectors.GeneralProtection, error);
        if (cs.IsConforming)
        {
            if (cs.Dpl > _cpl) ThrowFault(ExceptionVectors.GeneralProtection, error);
        }
        else if ((selector & 3) > _cpl || cs.Dpl != _cpl)
        {
            ThrowFault(ExceptionVectors.GeneralProtection, error);
        }
        if (!cs.Present) ThrowFault(ExceptionVectors.SegmentNotPresent, error);
        return cs;
    }

    /// <summary>The checks on the CS popped by a far RET or IRET (same or outer privilege).</summary>
    private SegmentCache CheckReturnCode(ushort selector, out ulong descriptor)
    {
        uint error = (uint)selector & 0xFFFC;
        if (error == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        descriptor = ReadDescriptor(selector);
        var cs = ParseDescriptor(selector, descriptor);
        int rpl = selector & 3;
        if (!cs.IsCode || rpl < _cpl) ThrowFault(ExceptionVectors.GeneralProtection, error);
        if (cs.IsConforming ? cs.Dpl > rpl : cs.Dpl != rpl) ThrowFault(ExceptionVectors.GeneralProtection, error);
        if (!cs.Present) ThrowFault(ExceptionVectors.SegmentNotPresent, error);
        return cs;
    }

    /// <summary>The checks on the SS popped by a return to an outer privilege level <paramref name="rpl"/>.</summary>
    private SegmentCache CheckReturnStack(ushort selector, int rpl, out ulong descriptor)
    {
        uint error = (uint)selector & 0xFFFC;
        if (error == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        descriptor = ReadDescriptor(selector);
        var ss = ParseDescriptor(selector, descriptor);
        if ((selector & 3) != rpl || ss.IsSystem || ss.IsCode || (ss.Access & 2) == 0 || ss.Dpl != rpl)
            ThrowFault(ExceptionVectors.GeneralProtection, error);
        if (!ss.Present) ThrowFault(ExceptionVectors.StackFault, error);
        return ss;
    }

    private static void ReturnFar(Cpu c, ref DecodedInstruction d)
    {
        bool op32 = d.OpSize32;
        uint size = op32 ? 4u : 2u;
        uint release = d.Imm & 0xFFFF;
        uint newEip = c.PeekStack(0, op32);
        ushort selector = (ushort)c.PeekStack(size, op32);
        if (!op32) newEip &= 0xFFFF;

        if (!c.ProtectedMode || c.V86)
        {
            if (newEip > c.S[(int)SegmentRegister.CS].ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
            c.AdjustStack(2 * size + release);
            c.LoadSegment((int)SegmentRegister.CS, selector);
            c._eip = newEip;
            return;
        }

        var cs = c.CheckReturnCode(selector, out ulong csDescriptor);
        int rpl = selector & 3;
        if (rpl == c._cpl)
        {
            if (newEip > cs.ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
            c.MarkAccessed(selector, csDescriptor);
            cs.Access |= 1;
            c.SetCodeSegment(cs, rpl);
            c._eip = newEip;
            c.AdjustStack(2 * size + release);
            return;
        }

        // Return to an outer level: the caller's SS:ESP sits above the released parameters.
        uint newEsp = c.PeekStack(2 * size + release, op32);
        ushort ssSelector = (ushort)c.PeekStack(3 * size + release, op32);
        var ss = c.CheckReturnStack(ssSelector, rpl, out ulong ssDescriptor);
        if (newEip > cs.ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
        c.MarkAccessed(selector, csDescriptor);
        c.MarkAccessed(ssSelector, ssDescriptor);
        cs.Access |= 1;
        ss.Access |= 1;
        c.SwitchToOuterLevel(cs, ss, newEsp + release, rpl);
        c._eip = newEip;
    }

    /// <summary>Installs CS and SS:ESP of an outer level, then nulls the data segments it may not use.</summary>
    private void SwitchToOuterLevel(SegmentCache cs, SegmentCache ss, uint newEsp, int rpl)
    {
        // A 16-bit SS only replaces SP: the upper half of ESP keeps the inner level's value, as on hardware.
        R[ESP] = ss.Big ? newEsp : (R[ESP] & 0xFFFF_0000) | (ushort)newEsp;
        S[(int)SegmentRegister.SS] = ss;
        SetCodeSegment(cs, rpl);
        InvalidateSegmentsForOuterLevel();
    }

    private static void InterruptReturn(Cpu c, ref DecodedInstruction d)
    {
        bool op32 = d.OpSize32;
        uint size = op32 ? 4u : 2u;

        if (!c.ProtectedMode)
        {
            uint eip = c.PeekStack(0, op32);
            ushort sel = (ushort)c.PeekStack(size, op32);
            uint flags = c.PeekStack(2 * size, op32);
            if (eip > c.S[(int)SegmentRegister.CS].ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
            c.AdjustStack(3 * size);
            c.LoadSegment((int)SegmentRegister.CS, sel);
            c._eip = eip;
            // Real mode: every flag but VM, VIF and VIP can be loaded (SDM IRET, real-address mode).
            c._flags = op32
                ? ((flags & 0x0025_7FD5) | (c._flags & (VM | VIF | VIP))) & ImplementedFlags
                : ((c._flags & 0xFFFF_0000) | (flags & 0x7FD5)) & ImplementedFlags;
            return;
        }
        if (c.V86)
        {
            c.ReturnWithinVirtual8086(op32);
            return;
        }
        if ((c._flags & NT) != 0)
        {
            c.ReturnFromNestedTask();
            return;
        }

        uint newEip = c.PeekStack(0, op32);
        ushort selector = (ushort)c.PeekStack(size, op32);
        uint newFlags = c.PeekStack(2 * size, op32);
        if (op32 && (newFlags & VM) != 0 && c._cpl == 0)
        {
            c.ReturnToVirtual8086(newEip, selector, newFlags);
            return;
        }
        var cs = c.CheckReturnCode(selector, out ulong csDescriptor);
        int rpl = selector & 3;
        if (!op32) newEip &= 0xFFFF;
        // Flags follow the privilege of the level IRET runs at, before the return.
        uint flagsAfter = c.IretFlags(newFlags, op32);

        if (rpl == c._cpl)
        {
            if (newEip > cs.ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
            c.MarkAccessed(selector, csDescriptor);
            cs.Access |= 1;
            c.SetCodeSegment(cs, rpl);
            c._eip = newEip;
            c.AdjustStack(3 * size);
            c._flags = flagsAfter;
            return;
        }

        uint newEsp = c.PeekStack(3 * size, op32);
        ushort ssSelector = (ushort)c.PeekStack(4 * size, op32);
        var ss = c.CheckReturnStack(ssSelector, rpl, out ulong ssDescriptor);
        if (newEip > cs.ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
        c.MarkAccessed(selector, csDescriptor);
        c.MarkAccessed(ssSelector, ssDescriptor);
        cs.Access |= 1;
        ss.Access |= 1;
        c._flags = flagsAfter;
        c.SwitchToOuterLevel(cs, ss, newEsp, rpl);
        c._eip = newEip;
    }

    /// <summary>
    /// EFLAGS after a protected-mode IRET: IOPL changes only at CPL 0, IF only when CPL &lt;= IOPL,
    /// VM never here (the return to virtual-8086 mode takes its own path); the 16-bit form keeps the upper half.
    /// </summary>
    private uint IretFlags(uint popped, bool op32)
    {
        uint mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT;
        if (op32) mask |= RF | AC | ID;
        int iopl = (int)(_flags >> 12) & 3;
        if (_cpl <= iopl) mask |= IF;
        if (_cpl == 0)
        {
            mask |= IOPL;
            if (op32) mask |= VIF | VIP;
        }
        if (!op32) mask &= 0xFFFF;
        return (_flags & ~mask) | (popped & mask);
    }

    /// <summary>One log line per instruction address for a feature the CPU does not implement.</summary>
    internal void LogNotImplemented(string what)
    {
        uint linear = S[(int)SegmentRegister.CS].Base + _startEip;
        if (Log is null || !_reportedUnimplemented.Add(linear)) return;
        Log($"{what} (at {S[(int)SegmentRegister.CS].Selector:X4}:{_startEip:X8}, position {_position})");
    }
}
