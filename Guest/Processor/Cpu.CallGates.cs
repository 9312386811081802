namespace VmFt.Guest.Processor;

// Far JMP and far CALL through 16- and 32-bit call gates (Intel SDM vol. 3, 5.8.2-5.8.5; vol. 2,
// CALL and JMP pseudo-code). The gate's size, not the instruction's operand size, decides the
// width of everything pushed and of the target offset. A CALL to a more privileged non-conforming
// segment switches to the stack the TSS gives for that level and copies the gate's count of
// parameters (words or dwords) from the caller's stack; the far RET back is in Cpu.FarTransfers.cs.
// Every check, including the room on the new stack and the reads of the parameters, comes before
// anything changes; only a page fault on the new stack can interrupt the pushes, and it puts the
// old stack and privilege back.
public sealed unsafe partial class Cpu
{
    /// <summary>The parameter count field of a call gate is five bits.</summary>
    private const int MaxGateParameters = 31;

    private void FarTransferThroughCallGate(ushort gateSelector, ulong gate, bool call)
    {
        uint gateError = (uint)gateSelector & 0xFFFC;
        int gateDpl = (int)(gate >> 45) & 3;
        if (gateDpl < _cpl || (gateSelector & 3) > gateDpl) ThrowFault(ExceptionVectors.GeneralProtection, gateError);
        if ((gate & (1UL << 47)) == 0) ThrowFault(ExceptionVectors.SegmentNotPresent, gateError);

        uint lo = (uint)gate, hi = (uint)(gate >> 32);
        bool gate32 = (hi & 0x0800) != 0; // type 0xC; 0x4 is the 16-bit (286) gate
        ushort csSelector = (ushort)(lo >> 16);
        uint offset = gate32 ? (hi & 0xFFFF_0000) | (lo & 0xFFFF) : lo & 0xFFFF;
        int count = (int)(hi & 0x1F);

        uint csError = (uint)csSelector & 0xFFFC;
        if (csError == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        ulong csDescriptor = ReadDescriptor(csSelector);
        var cs = ParseDescriptor(csSelector, csDescriptor);
        if (!cs.IsCode || cs.Dpl > _cpl) ThrowFault(ExceptionVectors.GeneralProtection, csError);
        // JMP never changes privilege: a non-conforming target must be at the current level.
        if (!call && !cs.IsConforming && cs.Dpl != _cpl) ThrowFault(ExceptionVectors.GeneralProtection, csError);
        if (!cs.Present) ThrowFault(ExceptionVectors.SegmentNotPresent, csError);

        if (call && !cs.IsConforming && cs.Dpl < _cpl)
        {
            CallGateToInnerLevel(cs, csDescriptor, offset, gate32, count);
            return;
        }
        if (call)
        {
            // A stack overflow faults #SS(0) here; the loop restores ESP.
            Push(S[(int)SegmentRegister.CS].Selector, gate32);
            Push(_eip, gate32);
        }
        if (offset > cs.ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);
        MarkAccessed(csSelector, csDescriptor);
        cs.Access |= 1;
        SetCodeSegment(cs, _cpl);
        _eip = offset;
    }

    /// <summary>CALL through a gate to a more privileged level: new stack from the TSS, parameters copied, return frame pushed there.</summary>
    private void CallGateToInnerLevel(SegmentCache cs, ulong csDescriptor, uint offset, bool gate32, int count)
    {
        int newCpl = cs.Dpl;
        var (ssSelector, newEsp) = ReadTssStack(newCpl);
        var ss = LoadStackForLevel(ssSelector, newCpl);
        uint size = gate32 ? 4u : 2u;
        // Old SS:ESP, the parameters and the return CS:EIP (SDM CALL: "room for parameters plus 16 bytes").
        if (!StackHasRoom(ss, newEsp, (uint)(4 + count) * size))
            ThrowFault(ExceptionVectors.StackFault, (uint)ssSelector & 0xFFFC);
        if (offset > cs.ValidHigh) ThrowFault(ExceptionVectors.GeneralProtection);

        // The caller's parameters, read through its own stack segment and privilege: a short
        // stack faults (#SS(0) or #PF) before the switch.
        Span<uint> parameters = stackalloc uint[MaxGateParameters];
        for (int i = 0; i < count; i++) parameters[i] = PeekStack((uint)i * size, gate32);

        var oldSs = S[(int)SegmentRegister.SS];
        uint oldEsp = R[ESP];
        int oldCpl = _cpl;
        ushort oldCs = S[(int)SegmentRegister.CS].Selector;
        S[(int)SegmentRegister.SS] = ss;
        R[ESP] = newEsp;
        SetCpl(newCpl); // the pushes are accesses of the new level
        try
        {
            Push(oldSs.Selector, gate32);
            Push(oldEsp, gate32);
            // Same order as on the caller's stack: the deepest parameter goes first.
            for (int i = count - 1; i >= 0; i--) Push(parameters[i], gate32);
            Push(oldCs, gate32);
            Push(_eip, gate32);
        }
        catch (CpuFault)
        {
            S[(int)SegmentRegister.SS] = oldSs;
            R[ESP] = oldEsp;
            SetCpl(oldCpl);
            throw;
        }
        MarkAccessed(cs.Selector, csDescriptor);
        cs.Access |= 1;
        SetCodeSegment(cs, newCpl);
        _eip = offset;
    }
}
