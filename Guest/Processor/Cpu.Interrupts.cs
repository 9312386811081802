namespace VmFt.Guest.Processor;

// Delivering interrupts and exceptions: through the IVT in real mode, through IDT interrupt and
// trap gates in protected mode (with the stack switch through the TSS on a privilege change), from
// virtual-8086 mode to a ring-0 handler (SDM 20.3.1.1: the V86 segment registers are pushed and
// nulled), through IDT task gates (Cpu.TaskSwitch.cs), and the double-fault and triple-fault rules
// (Intel SDM vol. 3, 6.15, table 6-5).
public sealed unsafe partial class Cpu
{
    private enum FaultClass { Benign, Contributory, PageFault }

    private static FaultClass Classify(int vector) => vector switch
    {
        0 or 10 or 11 or 12 or 13 => FaultClass.Contributory,
        14 => FaultClass.PageFault,
        _ => FaultClass.Benign,
    };

    /// <summary>Delivers a processor exception, turning a fault during delivery into #DF, and a fault during #DF into shutdown.</summary>
    internal void DeliverException(int vector, bool hasErrorCode, uint errorCode)
    {
        int first = vector;
        bool firstHasError = hasErrorCode;
        uint firstError = errorCode;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                DeliverInterrupt(first, InterruptSource.Exception, firstHasError, firstError);
                return;
            }
            catch (CpuFault second)
            {
                if (first == ExceptionVectors.DoubleFault || attempt > 2)
                {
                    Shutdown($"triple fault: {ExceptionVectors.Name(second.Vector)} while delivering {ExceptionVectors.Name(first)}");
                    return;
                }
                var a = Classify(first);
                var b = Classify(second.Vector);
                bool doubleFault = (a == FaultClass.Contributory && b == FaultClass.Contributory)
                    || (a == FaultClass.PageFault && b != FaultClass.Benign);
                if (doubleFault)
                {
                    first = ExceptionVectors.DoubleFault;
                    firstHasError = true;
                    firstError = 0;
                }
                else
                {
                    first = second.Vector;
                    firstHasError = second.HasErrorCode;
                    firstError = second.ErrorCode;
                }
            }
        }
    }

    private void Shutdown(string why)
    {
        _shutdown = true;
        Log?.Invoke($"{why} at {S[(int)SegmentRegister.CS].Selector:X4}:{_eip:X8}, position {_position}: processor shut down");
    }

    /// <summary>Delivers interrupt <paramref name="vector"/>; may throw a CpuFault if the delivery itself faults.</summary>
    internal void DeliverInterrupt(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        if (!ProtectedMode)
        {
            DeliverRealMode(vector);
            return;
        }

        // EXT: the event is not the program's own (SDM 6.13): an external interrupt or an exception.
        // Only INT n, INT3 and INTO clear it.
        uint ext = source == InterruptSource.Software ? 0u : 1u;
        uint idtError = (uint)(vector * 8 + 2) | ext;
        if ((uint)vector * 8 + 7 > _idtr.Limit) throw new CpuFault(ExceptionVectors.GeneralProtection, idtError, true);
        uint gateLo = ReadSystem32(_idtr.Base + (uint)vector * 8);
        uint gateHi = ReadSystem32(_idtr.Base + (uint)vector * 8 + 4);
        int type = (int)(gateHi >> 8) & 0x1F;
        int gateDpl = (int)(gateHi >> 13) & 3;
        bool gate32 = false;
        bool trapGate = false;
        bool taskGate = false;
        switch (type)
        {
            case 0x05: taskGate = true; break;
            case 0x06: break;
            case 0x07: trapGate = true; break;
            case 0x0E: gate32 = true; break;
            case 0x0F: gate32 = true; trapGate = true; break;
            default:
                throw new CpuFault(ExceptionVectors.GeneralProtection, idtError, true);
        }
        if (source == InterruptSource.Software && gateDpl < _cpl)
            throw new CpuFault(ExceptionVectors.GeneralProtection, idtError, true);
        if ((gateHi & 0x8000) == 0) throw new CpuFault(ExceptionVectors.SegmentNotPresent, idtError, true);
        if (taskGate)
        {
            InterruptThroughTaskGate((ushort)(gateLo >> 16), ext, hasErrorCode, errorCode);
            return;
        }

        ushort selector = (ushort)(gateLo >> 16);
        uint offset = gate32 ? (gateHi & 0xFFFF_0000) | (gateLo & 0xFFFF) : gateLo & 0xFFFF;
        if ((selector & 0xFFFC) == 0) throw new CpuFault(ExceptionVectors.GeneralProtection, ext, true);
        ulong desc = ReadDescriptor(selector, ExceptionVectors.GeneralProtection, ext);
        var cs = ParseDescriptor(selector, desc);
        uint selError = ((uint)selector & 0xFFFC) | ext;
        if (!cs.IsCode || cs.Dpl > _cpl) throw new CpuFault(ExceptionVectors.GeneralProtection, selError, true);
        if (!cs.Present) throw new CpuFault(ExceptionVectors.SegmentNotPresent, selError, true);
        if (offset > cs.Limit) throw new CpuFault(ExceptionVectors.GeneralProtection, ext, true);

        uint oldFlags = _flags | 2;
        ushort oldCs = S[(int)SegmentRegister.CS].Selector;
        uint oldEip = _eip;
        bool fromV86 = (_flags & VM) != 0;

        if (!cs.IsConforming && cs.Dpl < _cpl)
        {
            // From virtual-8086 mode the handler must be at ring 0.
            if (fromV86 && cs.Dpl != 0) throw new CpuFault(ExceptionVectors.GeneralProtection, selError, true);
            // Inner privilege: switch to the stack the TSS gives for the new level.
            int newCpl = cs.Dpl;
            var (newSsSelector, newEsp) = ReadTssStack(newCpl, ext);
            var newSs = LoadStackForLevel(newSsSelector, newCpl, ext);
            var oldSs = S[(int)SegmentRegister.SS];
            uint oldEsp = R[ESP];
            // SS, ESP, EFLAGS, CS, EIP [, error code], and from V86 also GS, FS, DS, ES.
            int slots = (hasErrorCode ? 6 : 5) + (fromV86 ? 4 : 0);
            if (!StackHasRoom(newSs, newEsp, (uint)((gate32 ? 4 : 2) * slots)))
                throw new CpuFault(ExceptionVectors.StackFault, ((uint)newSsSelector & 0xFFFC) | ext, true);

            // From here nothing can fault except the stack writes themselves (checked above).
            newSs.Selector = newSsSelector;
            S[(int)SegmentRegister.SS] = newSs;
            R[ESP] = newEsp;
            int savedCpl = _cpl;
            SetCpl(newCpl); // stack writes are supervisor accesses now
            try
            {
                if (fromV86)
                {
                    // The 8086 program's segment registers, which protected mode cannot hold (SDM figure 20-4).
                    Push(S[(int)SegmentRegister.GS].Selector, gate32);
                    Push(S[(int)SegmentRegister.FS].Selector, gate32);
                    Push(S[(int)SegmentRegister.DS].Selector, gate32);
                    Push(S[(int)SegmentRegister.ES].Selector, gate32);
                }
                Push(oldSs.Selector, gate32);
                Push(oldEsp, gate32);
                Push(oldFlags, gate32);
                Push(oldCs, gate32);
                Push(oldEip, gate32);
                if (hasErrorCode) Push(errorCode, gate32);
            }
            catch (CpuFault)
            {
                S[(int)SegmentRegister.SS] = oldSs;
                R[ESP] = oldEsp;
                SetCpl(savedCpl);
                throw;
            }
            if (fromV86)
            {
                foreach (int seg in (ReadOnlySpan<int>)[(int)SegmentRegister.ES, (int)SegmentRegister.DS, (int)SegmentRegister.FS, (int)SegmentRegister.GS])
                {
                    S[seg] = new SegmentCache { Selector = 0 };
                    S[seg].Refresh(usable: false);
                }
            }
            MarkAccessed(selector, desc);
            SetCodeSegment(cs, newCpl);
        }
        else if (fromV86)
        {
            // A conforming or ring-3 handler cannot take an interrupt from virtual-8086 mode.
            throw new CpuFault(ExceptionVectors.GeneralProtection, selError, true);
        }
        else if (cs.IsConforming || cs.Dpl == _cpl)
        {
            uint savedEsp = R[ESP];
            try
            {
                Push(oldFlags, gate32);
                Push(oldCs, gate32);
                Push(oldEip, gate32);
                if (hasErrorCode) Push(errorCode, gate32);
            }
            catch (CpuFault)
            {
                R[ESP] = savedEsp;
                throw;
            }
            MarkAccessed(selector, desc);
            SetCodeSegment(cs, _cpl);
        }
        else
        {
            throw new CpuFault(ExceptionVectors.GeneralProtection, selError, true);
        }

        _eip = offset;
        _flags &= ~(TF | NT | RF | VM);
        if (!trapGate) _flags &= ~IF;
    }

    private void DeliverRealMode(int vector)
    {
        uint entry = (uint)vector * 4;
        if (entry + 3 > _idtr.Limit) throw new CpuFault(ExceptionVectors.GeneralProtection, 0, true);
        uint target = ReadSystem32(_idtr.Base + entry);
        uint savedEsp = R[ESP];
        try
        {
            Push16((ushort)(_flags | 2));
            Push16(S[(int)SegmentRegister.CS].Selector);
            Push16((ushort)_eip);
        }
        catch (CpuFault)
        {
            R[ESP] = savedEsp;
            throw;
        }
        LoadSegment((int)SegmentRegister.CS, (ushort)(target >> 16));
        _eip = target & 0xFFFF;
        _flags &= ~(IF | TF | AC | RF);
    }

    /// <summary>INT n / INT3 / INTO: a software interrupt; EIP already points past the instruction.</summary>
    internal void SoftwareInterrupt(int vector)
    {
        DeliverInterrupt(vector, InterruptSource.Software, false, 0);
    }
}
