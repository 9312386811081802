namespace VmFt.Guest.Processor;

// Delivering interrupts and exceptions: through the IVT in real mode, through IDT interrupt and
// trap gates in protected mode (with the stack switch through the TSS on a privilege change), and
// the double-fault and triple-fault rules (Intel SDM vol. 3, 6.15, table 6-5).
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
        if (V86)
        {
            Log?.Invoke("interrupt from virtual-8086 mode is not implemented");
            Shutdown("virtual-8086 mode");
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
        bool gate32;
        bool trapGate;
        switch (type)
        {
            case 0x06: gate32 = false; trapGate = false; break;
            case 0x07: gate32 = false; trapGate = true; break;
            case 0x0E: gate32 = true; trapGate = false; break;
            case 0x0F: gate32 = true; trapGate = true; break;
            case 0x05:
                Log?.Invoke($"task gate in IDT entry {vector}: hardware task switching is not implemented");
                throw new CpuFault(ExceptionVectors.GeneralProtection, idtError, true);
            default:
                throw new CpuFault(ExceptionVectors.GeneralProtection, idtError, true);
        }
        if (source == InterruptSource.Software && gateDpl < _cpl)
            throw new CpuFault(ExceptionVectors.GeneralProtection, idtError, true);
        if ((gateHi & 0x8000) == 0) throw new CpuFault(ExceptionVectors.SegmentNotPresent, idtError, true);

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

        if (!cs.IsConforming && cs.Dpl < _cpl)
        {
            // Inner privilege: switch to the stack the TSS gives for the new level.
            int newCpl = cs.Dpl;
            var (newSsSelector, newEsp) = ReadTssStack(newCpl);
            var newSs = LoadStackForLevel(newSsSelector, newCpl, ext);
            var oldSs = S[(int)SegmentRegister.SS];
            uint oldEsp = R[ESP];
            int bytes = (gate32 ? 4 : 2) * (hasErrorCode ? 6 : 5);
            uint top = newSs.Big ? newEsp : (ushort)newEsp;
            if (top - (uint)bytes < newSs.ValidLow || top - 1 > newSs.ValidHigh)
                throw new CpuFault(ExceptionVectors.StackFault, ((uint)newSsSelector & 0xFFFC) | ext, true);

            // From here nothing can fault except the stack writes themselves (checked above).
            newSs.Selector = newSsSelector;
            S[(int)SegmentRegister.SS] = newSs;
            R[ESP] = newEsp;
            int savedCpl = _cpl;
            SetCpl(newCpl); // stack writes are supervisor accesses now
            try
            {
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
            MarkAccessed(selector, desc);
            SetCodeSegment(cs, newCpl);
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
