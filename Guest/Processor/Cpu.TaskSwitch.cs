namespace VmFt.Guest.Processor;

// Hardware task switching (Intel SDM vol. 3, ch. 7; vol. 2, the JMP, CALL, INT n and IRET
// pseudo-code): JMP and CALL to a TSS descriptor or a task gate, interrupts and exceptions through
// IDT task gates, and IRET with NT = 1 back along the previous task link.
//
// The switch follows SDM 7.3. Everything up to the loading of TR can fault in the old task's
// context and changes nothing architectural: the privilege, type, presence and limit checks, and
// a probe of every page the switch will read or write (step 4). Then the old task is saved, the
// busy flags and the back link are written, TR is loaded, CR0.TS is set, and the new task's
// registers, CR3 (32-bit TSS with paging on) and EFLAGS are loaded: this is the commit point.
// From there a fault belongs to the new task: its segment registers are all loaded first without
// checks (as the SDM says of a fault after the commit point, 6.15 #TS/#NP), then qualified in the
// order of table 7-1 (P6 family), and the exception is delivered with the new task's CS:EIP.
public sealed unsafe partial class Cpu
{
    private enum TaskSwitchReason { Jump, Call, Iret, Interrupt }

    // Field offsets of the 32-bit TSS (SDM figure 7-2) and of the 16-bit TSS (figure 7-10).
    private const uint Tss32Cr3 = 0x1C, Tss32Eip = 0x20, Tss32Eflags = 0x24, Tss32Registers = 0x28,
        Tss32Selectors = 0x48, Tss32Ldt = 0x60, Tss32Trap = 0x64;
    private const uint Tss16Ip = 0x0E, Tss16Flags = 0x10, Tss16Registers = 0x12, Tss16Selectors = 0x22, Tss16Ldt = 0x2A;

    /// <summary>The smallest limits a TSS may have: 104 bytes (32-bit) and 44 bytes (16-bit), SDM table 7-1.</summary>
    internal const uint Tss32MinLimit = 0x67, Tss16MinLimit = 0x2B;

    private static bool IsTss32(byte access) => (access & 0x08) != 0;

    /// <summary>JMP/CALL whose selector names a TSS descriptor directly.</summary>
    private void FarTransferToTss(ushort selector, ulong descriptor, bool call)
    {
        uint error = (uint)selector & 0xFFFC;
        int dpl = (int)(descriptor >> 45) & 3;
        if (dpl < _cpl || dpl < (selector & 3) || (selector & 4) != 0) ThrowFault(ExceptionVectors.GeneralProtection, error);
        if ((descriptor & (1UL << 47)) == 0) ThrowFault(ExceptionVectors.SegmentNotPresent, error);
        TaskSwitch(selector, descriptor, call ? TaskSwitchReason.Call : TaskSwitchReason.Jump, ext: 0);
    }

    /// <summary>JMP/CALL whose selector names a task gate in the GDT or LDT.</summary>
    private void FarTransferThroughTaskGate(ushort gateSelector, ulong gate, bool call)
    {
        uint gateError = (uint)gateSelector & 0xFFFC;
        int gateDpl = (int)(gate >> 45) & 3;
        if (gateDpl < _cpl || gateDpl < (gateSelector & 3)) ThrowFault(ExceptionVectors.GeneralProtection, gateError);
        if ((gate & (1UL << 47)) == 0) ThrowFault(ExceptionVectors.SegmentNotPresent, gateError);
        ushort tssSelector = (ushort)((uint)gate >> 16);
        ulong tss = ReadAvailableTss(tssSelector, ext: 0);
        TaskSwitch(tssSelector, tss, call ? TaskSwitchReason.Call : TaskSwitchReason.Jump, ext: 0);
    }

    /// <summary>An interrupt or exception through an IDT task gate (the gate's own checks are done).</summary>
    private void InterruptThroughTaskGate(ushort tssSelector, uint ext, bool hasErrorCode, uint errorCode)
    {
        ulong tss = ReadAvailableTss(tssSelector, ext);
        TaskSwitch(tssSelector, tss, TaskSwitchReason.Interrupt, ext, hasErrorCode, errorCode);
    }

    /// <summary>IRET with NT = 1: back to the task named by the current TSS's previous task link, which must be busy.</summary>
    private void ReturnFromNestedTask()
    {
        ushort link = ReadSystem16(_tr.Base);
        uint error = (uint)link & 0xFFFC;
        if ((link & 4) != 0) ThrowFault(ExceptionVectors.InvalidTss, error);
        ulong descriptor = ReadDescriptor(link, ExceptionVectors.InvalidTss);
        if (((int)(descriptor >> 40) & 0x1F) is not (0x03 or 0x0B)) ThrowFault(ExceptionVectors.InvalidTss, error);
        if ((descriptor & (1UL << 47)) == 0) ThrowFault(ExceptionVectors.SegmentNotPresent, error);
        TaskSwitch(link, descriptor, TaskSwitchReason.Iret, ext: 0);
    }

    /// <summary>The TSS a task gate names: in the GDT, an available 16- or 32-bit TSS, present; #GP/#NP(selector) otherwise.</summary>
    private ulong ReadAvailableTss(ushort selector, uint ext)
    {
        uint error = ((uint)selector & 0xFFFC) | ext;
        if ((selector & 4) != 0) throw new CpuFault(ExceptionVectors.GeneralProtection, error, true);
        ulong descriptor = ReadDescriptor(selector, ExceptionVectors.GeneralProtection, ext);
        // S = 0 and type 1 or 9: a busy TSS (type 3 or 11) cannot be entered again.
        if (((int)(descriptor >> 40) & 0x1F) is not (0x01 or 0x09)) throw new CpuFault(ExceptionVectors.GeneralProtection, error, true);
        if ((descriptor & (1UL << 47)) == 0) throw new CpuFault(ExceptionVectors.SegmentNotPresent, error, true);
        return descriptor;
    }

    /// <summary>
    /// Switches to the task whose TSS descriptor is <paramref name="descriptor"/> (SDM 7.3, steps 3-13).
    /// The caller did the checks on the selector, the gate, the type and the presence.
    /// </summary>
    private void TaskSwitch(ushort selector, ulong descriptor, TaskSwitchReason reason, uint ext, bool hasErrorCode = false, uint errorCode = 0)
    {
        var tss = ParseDescriptor(selector, descriptor);
        bool new32 = IsTss32(tss.Access);
        if (tss.Limit < (new32 ? Tss32MinLimit : Tss16MinLimit))
            throw new CpuFault(ExceptionVectors.InvalidTss, ((uint)selector & 0xFFFC) | ext, true);

        bool nesting = reason is TaskSwitchReason.Call or TaskSwitchReason.Interrupt;
        bool releaseOld = reason is TaskSwitchReason.Jump or TaskSwitchReason.Iret;
        bool old32 = IsTss32(_tr.Access);
        ushort oldSelector = _tr.Selector;
        uint oldBase = _tr.Base;
        // A TR never loaded since reset (selector 0) has no descriptor to mark.
        bool oldHasDescriptor = (oldSelector & 0xFFFC) != 0 && TryDescriptorAddress(oldSelector, out _);

        // Step 4: every page the switch touches is present (and writable where written) first.
        ProbeSystemRange(tss.Base, (new32 ? Tss32MinLimit : Tss16MinLimit) + 1, write: nesting);
        ProbeSystemRange(oldBase + (old32 ? Tss32Eip : Tss16Ip), old32 ? Tss32Ldt - Tss32Eip : Tss16Ldt - Tss16Ip, write: true);
        if (reason != TaskSwitchReason.Iret) ProbeSystemRange(DescriptorAddress(selector) + 5, 1, write: true);
        if (releaseOld && oldHasDescriptor) ProbeSystemRange(DescriptorAddress(oldSelector) + 5, 1, write: true);

        // Step 7: the outgoing task's EIP, EFLAGS (NT cleared by IRET), general registers and selectors.
        uint flagsImage = _flags | 2;
        if (reason == TaskSwitchReason.Iret) flagsImage &= ~NT;
        if (old32)
        {
            WriteSystem32(oldBase + Tss32Eip, _eip);
            WriteSystem32(oldBase + Tss32Eflags, flagsImage);
            for (uint i = 0; i < 8; i++) WriteSystem32(oldBase + Tss32Registers + i * 4, R[i]);
            for (uint i = 0; i < 6; i++) WriteSystem16(oldBase + Tss32Selectors + i * 4, S[i].Selector);
        }
        else
        {
            // A 16-bit TSS keeps the low halves only, and has no FS or GS.
            WriteSystem16(oldBase + Tss16Ip, (ushort)_eip);
            WriteSystem16(oldBase + Tss16Flags, (ushort)flagsImage);
            for (uint i = 0; i < 8; i++) WriteSystem16(oldBase + Tss16Registers + i * 2, (ushort)R[i]);
            for (uint i = 0; i < 4; i++) WriteSystem16(oldBase + Tss16Selectors + i * 2, S[i].Selector);
        }
        // Steps 5, 8, 9: JMP and IRET release the old task; CALL and interrupts nest the new one.
        if (releaseOld && oldHasDescriptor) SetTssBusy(oldSelector, busy: false);
        if (nesting) WriteSystem16(tss.Base, oldSelector);
        if (reason != TaskSwitchReason.Iret) SetTssBusy(selector, busy: true);

        // The incoming state, read after the save: a task may name itself as its back link.
        uint b = tss.Base;
        Span<uint> registers = stackalloc uint[8];
        Span<ushort> selectors = stackalloc ushort[6];
        uint cr3 = 0, eip, flags;
        ushort ldt;
        bool debugTrap = false;
        if (new32)
        {
            cr3 = ReadSystem32(b + Tss32Cr3);
            eip = ReadSystem32(b + Tss32Eip);
            flags = ReadSystem32(b + Tss32Eflags);
            for (int i = 0; i < 8; i++) registers[i] = ReadSystem32(b + Tss32Registers + (uint)i * 4);
            for (int i = 0; i < 6; i++) selectors[i] = ReadSystem16(b + Tss32Selectors + (uint)i * 4);
            ldt = ReadSystem16(b + Tss32Ldt);
            debugTrap = (ReadSystem16(b + Tss32Trap) & 1) != 0;
        }
        else
        {
            // The upper halves of EIP, EFLAGS and the registers are undefined after a 16-bit load
            // (SDM 7.6): they are cleared. FS and GS become null.
            eip = ReadSystem16(b + Tss16Ip);
            flags = ReadSystem16(b + Tss16Flags);
            for (int i = 0; i < 8; i++) registers[i] = ReadSystem16(b + Tss16Registers + (uint)i * 2);
            for (int i = 0; i < 4; i++) selectors[i] = ReadSystem16(b + Tss16Selectors + (uint)i * 2);
            ldt = ReadSystem16(b + Tss16Ldt);
        }

        // Step 10: the commit point.
        tss.Access |= 0x02;
        tss.Refresh();
        _tr = tss;
        _cr0 |= CR0_TS;
        if (new32 && (_cr0 & CR0_PG) != 0)
        {
            // Without paging the TSS's CR3 is read but not loaded (SDM 7.3 step 11).
            _cr3 = cr3 & 0xFFFF_F018;
            FlushTlb(global: false);
        }
        for (int i = 0; i < 8; i++) R[i] = registers[i];
        _eip = eip;
        _flags = (flags | (nesting ? NT : 0)) & ImplementedFlags;
        // From here a fault is the new task's: the loop restarts it at the new task's first instruction.
        _startEip = _eip;
        _startEsp = R[ESP];
        _startFlags = _flags;

        LoadTaskSegments(selectors, ldt, ext);

        if (hasErrorCode)
        {
            // An exception's error code goes on the new task's stack, as wide as the new TSS.
            try
            {
                Push(errorCode, new32);
            }
            catch (CpuFault fault) when (fault.Vector == ExceptionVectors.StackFault)
            {
                throw new CpuFault(ExceptionVectors.StackFault, ext, true);
            }
        }
        if (_eip > S[(int)SegmentRegister.CS].ValidHigh) throw new CpuFault(ExceptionVectors.GeneralProtection, ext, true);

        if (debugTrap)
        {
            // The T flag: #DB with DR6.BT once the switch is complete, before the new task's first instruction.
            _dr[6] |= 1u << 15;
            _startEip = _eip;
            _startEsp = R[ESP];
            _startFlags = _flags;
            DeliverInterrupt(ExceptionVectors.Debug, InterruptSource.Exception, hasErrorCode: false, errorCode: 0);
        }
    }

    /// <summary>
    /// Loads LDTR and the six segment registers of the new task: first all of them without checks,
    /// then the checks of SDM table 7-1 in its order, each a fault in the new task's context.
    /// </summary>
    private void LoadTaskSegments(ReadOnlySpan<ushort> selectors, ushort ldtSelector, uint ext)
    {
        bool ldtNull = (ldtSelector & 0xFFFC) == 0;
        bool ldtValid = true;
        _ldtr = new SegmentCache { Selector = ldtSelector };
        _ldtr.Refresh(usable: false);
        if (!ldtNull)
        {
            uint at = 0;
            ldtValid = (ldtSelector & 4) == 0 && TryDescriptorAddress(ldtSelector, out at);
            if (ldtValid)
            {
                var ldt = ParseDescriptor(ldtSelector, ReadDescriptorAt(at));
                ldtValid = ldt.IsSystem && (ldt.Access & 0x0F) == 0x02;
                if (ldtValid) _ldtr = ldt;
            }
        }

        if ((_flags & VM) != 0)
        {
            // A virtual-8086 task: segments as in real mode, CPL 3; only the LDT is checked.
            SetCpl(3);
            for (int i = 0; i < 6; i++) LoadSegment(i, selectors[i]);
            if (!ldtValid || (!ldtNull && !_ldtr.Present)) TaskFault(ExceptionVectors.InvalidTss, ldtSelector, ext);
            return;
        }

        Span<bool> valid = stackalloc bool[6];
        for (int i = 0; i < 6; i++)
        {
            ushort selector = selectors[i];
            SegmentCache cache;
            if ((selector & 0xFFFC) != 0 && TryDescriptorAddress(selector, out uint at))
            {
                cache = ParseDescriptor(selector, ReadDescriptorAt(at));
                valid[i] = true;
            }
            else
            {
                cache = new SegmentCache { Selector = selector };
                cache.Refresh(usable: false);
            }
            S[i] = cache;
        }
        const int Cs = (int)SegmentRegister.CS, Ss = (int)SegmentRegister.SS;
        int cpl = selectors[Cs] & 3;
        SetCpl(cpl);
        OnCodeSegmentChanged();

        ref SegmentCache cs = ref S[Cs];
        ref SegmentCache ss = ref S[Ss];
        if (!ldtValid) TaskFault(ExceptionVectors.InvalidTss, ldtSelector, ext);
        if (valid[Cs] && cs.IsCode && (cs.IsConforming ? cs.Dpl > cpl : cs.Dpl != cpl))
            TaskFault(ExceptionVectors.InvalidTss, selectors[Cs], ext);
        if (!valid[Ss] || ss.IsSystem || ss.IsCode || (ss.Access & 2) == 0) TaskFault(ExceptionVectors.InvalidTss, selectors[Ss], ext);
        if (!ss.Present) TaskFault(ExceptionVectors.StackFault, selectors[Ss], ext);
        if (ss.Dpl != cpl) TaskFault(ExceptionVectors.InvalidTss, selectors[Ss], ext);
        if (!ldtNull && !_ldtr.Present) TaskFault(ExceptionVectors.InvalidTss, ldtSelector, ext);
        if (!valid[Cs] || !cs.IsCode) TaskFault(ExceptionVectors.InvalidTss, selectors[Cs], ext);
        if (!cs.Present) TaskFault(ExceptionVectors.SegmentNotPresent, selectors[Cs], ext);
        if ((selectors[Ss] & 3) != cpl) TaskFault(ExceptionVectors.InvalidTss, selectors[Ss], ext);

        ReadOnlySpan<int> data = [(int)SegmentRegister.DS, (int)SegmentRegister.ES, (int)SegmentRegister.FS, (int)SegmentRegister.GS];
        foreach (int i in data)
        {
            if ((selectors[i] & 0xFFFC) == 0) continue; // null: loaded unusable, as MOV would
            ref SegmentCache s = ref S[i];
            if (!valid[i] || s.IsSystem || (s.IsCode && (s.Access & 2) == 0)) TaskFault(ExceptionVectors.InvalidTss, selectors[i], ext);
        }
        foreach (int i in data)
            if ((selectors[i] & 0xFFFC) != 0 && !S[i].Present) TaskFault(ExceptionVectors.SegmentNotPresent, selectors[i], ext);
        foreach (int i in data)
        {
            if ((selectors[i] & 0xFFFC) == 0) continue;
            ref SegmentCache s = ref S[i];
            if (!s.IsConforming && (s.Dpl < cpl || s.Dpl < (selectors[i] & 3))) TaskFault(ExceptionVectors.InvalidTss, selectors[i], ext);
        }

        // Every segment passed: set the accessed bits, as ordinary loads do.
        for (int i = 0; i < 6; i++)
        {
            ref SegmentCache s = ref S[i];
            if (!s.Usable || (s.Access & 1) != 0) continue;
            s.Access |= 1;
            WriteSystem8(DescriptorAddress(selectors[i]) + 5, s.Access);
        }
    }

    private static void TaskFault(int vector, ushort selector, uint ext) =>
        throw new CpuFault(vector, ((uint)selector & 0xFFFC) | ext, true);

    private ulong ReadDescriptorAt(uint address) => ((ulong)ReadSystem32(address + 4) << 32) | ReadSystem32(address);

    /// <summary>Sets or clears the busy bit (type bit 1) of a TSS descriptor in the GDT.</summary>
    private void SetTssBusy(ushort selector, bool busy)
    {
        uint address = DescriptorAddress(selector) + 5;
        byte access = ReadSystem8(address);
        WriteSystem8(address, busy ? (byte)(access | 0x02) : (byte)(access & ~0x02));
    }

    /// <summary>Translates every page of a system structure with supervisor rights, so that a missing page faults now (SDM 7.3 step 4).</summary>
    private void ProbeSystemRange(uint linear, uint length, bool write)
    {
        if ((_cr0 & CR0_PG) == 0) return;
        Translate(linear, write, user: false);
        uint pages = (((linear & 0xFFF) + length - 1) >> 12) + 1;
        for (uint k = 1; k < pages; k++) Translate((linear & 0xFFFF_F000) + k * 0x1000, write, user: false);
    }
}
