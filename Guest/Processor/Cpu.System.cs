using Iced.Intel;

namespace VmFt.Guest.Processor;

// System instructions: descriptor-table registers, LDTR and TR, the machine status word, control
// and debug registers, the protection-probe instructions (ARPL, LAR, LSL, VERR, VERW), cache and
// TLB control, CPUID, the time-stamp counter and model-specific registers, SYSENTER/SYSEXIT.
public sealed unsafe partial class Cpu
{
    // Model-specific registers the CPU implements; every other index (IA32_APIC_BASE, the MTRRs, the
    // machine-check banks: none exists here, and CPUID says so) is #GP(0) with nothing changed, which
    // a kernel's rdmsr_safe/wrmsr_safe catches through its exception table.
    internal const uint MsrTimeStampCounter = 0x10, MsrPlatformId = 0x17, MsrBiosSignId = 0x8B,
        MsrSysenterCs = 0x174, MsrSysenterEsp = 0x175, MsrSysenterEip = 0x176;

    /// <summary>
    /// The microcode update revision IA32_BIOS_SIGN_ID reports in its high dword after CPUID leaf 1
    /// (SDM vol. 4, MSR 8BH: software writes 0, executes CPUID 1, reads; a nonzero value means an
    /// update is loaded). This CPU has nothing to update, so the number only has to be stable.
    /// </summary>
    public const uint MicrocodeRevision = 1;

    /// <summary>CR4 bits this CPU implements. VME/PVI (no virtual-8086 extensions), PAE, MCE and PCE are reserved here: setting one is #GP(0). OSFXSR goes with CPUID's FXSR.</summary>
    internal const uint Cr4Implemented = CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_OSFXSR;

    /// <summary>CR0 bits that exist; writes to the others are ignored (they read as 0).</summary>
    internal const uint Cr0Implemented = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG;

    /// <summary>CPUID leaf 1 EDX: FPU, PSE, TSC, MSR, CX8, SEP, PGE, CMOV, FXSR.</summary>
    internal const uint CpuidFeatures = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 24);

    /// <summary>
    /// Highest CPUID leaf: 2, as on the Pentium II, which has no extended leaves (0x80000000 and up).
    /// Every leaf above it returns leaf 2, as Intel processors return the highest basic leaf (SDM
    /// vol. 2, CPUID); a kernel reading 0x80000000 sees no 0x8000xxxx maximum there, so it knows
    /// there is no brand string and names the processor from family and model.
    /// </summary>
    internal const uint CpuidMaxLeaf = 2;

    /// <summary>CPUID leaf 1 EAX and EDX at reset: family 6, model 3, stepping 3, a Pentium II "Klamath" (SDM vol. 3, 9.1.4).</summary>
    internal const uint CpuidSignature = 0x0000_0633;

    /// <summary>
    /// CPUID leaf 2 for that Pentium II: AL = 1 (one call returns everything), then the descriptors
    /// 01h (ITLB 4 KiB, 32 entries), 02h (ITLB 4 MiB, 2), 03h (DTLB 4 KiB, 64) in EAX, and 43h
    /// (L2 512 KiB, 4-way, 32-byte lines), 08h (L1 I 16 KiB), 04h (DTLB 4 MiB, 8), 0Ch (L1 D 16 KiB) in EDX.
    /// </summary>
    internal const uint CpuidCacheEax = 0x0302_0101, CpuidCacheEdx = 0x0C04_0843;

    static partial void RegisterSystem(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        Set(table, "Lgdt_m1632_16", &LoadTableRegister);
        Set(table, "Lgdt_m1632", &LoadTableRegister);
        Set(table, "Lidt_m1632_16", &LoadTableRegister);
        Set(table, "Lidt_m1632", &LoadTableRegister);
        Set(table, "Sgdt_m1632_16", &StoreTableRegister);
        Set(table, "Sgdt_m1632", &StoreTableRegister);
        Set(table, "Sidt_m1632_16", &StoreTableRegister);
        Set(table, "Sidt_m1632", &StoreTableRegister);
        Set(table, "Lldt_rm16", &LoadLdtr);
        Set(table, "Lldt_r32m16", &LoadLdtr);
        Set(table, "Sldt_rm16", &StoreLdtr);
        Set(table, "Sldt_r32m16", &StoreLdtr);
        Set(table, "Ltr_rm16", &LoadTr);
        Set(table, "Ltr_r32m16", &LoadTr);
        Set(table, "Str_rm16", &StoreTr);
        Set(table, "Str_r32m16", &StoreTr);
        Set(table, "Lmsw_rm16", &LoadMsw);
        Set(table, "Lmsw_r32m16", &LoadMsw);
        Set(table, "Smsw_rm16", &StoreMsw);
        Set(table, "Smsw_r32m16", &StoreMsw);
        Set(table, "Clts", &ClearTaskSwitched);
        Set(table, "Arpl_rm16_r16", &AdjustRpl);
        Set(table, "Arpl_r32m16_r32", &AdjustRpl);
        Set(table, "Lar_r16_rm16", &LoadAccessRights);
        Set(table, "Lar_r32_r32m16", &LoadAccessRights);
        Set(table, "Lsl_r16_rm16", &LoadSegmentLimit);
        Set(table, "Lsl_r32_r32m16", &LoadSegmentLimit);
        Set(table, "Verr_rm16", &VerifyRead);
        Set(table, "Verr_r32m16", &VerifyRead);
        Set(table, "Verw_rm16", &VerifyWrite);
        Set(table, "Verw_r32m16", &VerifyWrite);
        Set(table, "Mov_r32_cr", &MoveFromControl);
        Set(table, "Mov_cr_r32", &MoveToControl);
        Set(table, "Mov_r32_dr", &MoveFromDebug);
        Set(table, "Mov_dr_r32", &MoveToDebug);
        Set(table, "Invd", &CacheControl);
        Set(table, "Wbinvd", &CacheControl);
        Set(table, "Invlpg_m", &InvalidatePageEntry);
        Set(table, "Cpuid", &CpuIdentification);
        Set(table, "Rdtsc", &ReadTimeStamp);
        Set(table, "Rdmsr", &ReadMsr);
        Set(table, "Wrmsr", &WriteMsr);
        Set(table, "Sysenter", &SystemEnter);
        Set(table, "Sysexitd", &SystemExit);

        // Defined invalid opcodes, instructions of other modes and of other processors: a plain #UD, not logged.
        foreach (var name in (ReadOnlySpan<string>)["Ud2", "Ud0", "Ud0_r16_rm16", "Ud0_r32_rm32", "Ud1_r16_rm16", "Ud1_r32_rm32",
                     "Rsm", "Loadall286", "Loadall386", "Syscall", "Sysretd"])
            Set(table, name, &RaiseInvalidOpcode);

        RegisterX87(table);
    }

    private static void RaiseInvalidOpcode(Cpu c, ref DecodedInstruction d) => InvalidOpcode();

    /// <summary>#GP(0) unless at CPL 0 (real mode counts as CPL 0; virtual-8086 mode never does).</summary>
    private void RequireCpl0()
    {
        if (_cpl != 0 || V86) ThrowFault(ExceptionVectors.GeneralProtection);
    }

    /// <summary>#UD in real and virtual-8086 mode, for the instructions that only exist in protected mode.</summary>
    private void RequireProtectedMode()
    {
        if (!ProtectedMode || V86) InvalidOpcode();
    }

    // ---- GDTR, IDTR ---------------------------------------------------------------------------

    private static bool IsGdtForm(ref DecodedInstruction d) =>
        d.Code is (ushort)Code.Lgdt_m1632_16 or (ushort)Code.Lgdt_m1632 or (ushort)Code.Sgdt_m1632_16 or (ushort)Code.Sgdt_m1632;

    /// <summary>LGDT/LIDT: a 16-bit limit then the base; with 16-bit operand size only 24 bits of base are used.</summary>
    private static void LoadTableRegister(Cpu c, ref DecodedInstruction d)
    {
        c.RequireCpl0();
        uint linear = c.LinearRead(d.Segment, c.Ea(ref d), 6);
        ushort limit = c.ReadLinear16(linear);
        uint tableBase = c.ReadLinear32(linear + 2);
        if (!d.OpSize32) tableBase &= 0x00FF_FFFF;
        if (IsGdtForm(ref d)) c._gdtr = new DescriptorTableRegister(tableBase, limit);
        else c._idtr = new DescriptorTableRegister(tableBase, limit);
    }

    /// <summary>SGDT/SIDT: stores the limit and all 32 bits of the base, whatever the operand size (current SDM).</summary>
    private static void StoreTableRegister(Cpu c, ref DecodedInstruction d)
    {
        var table = IsGdtForm(ref d) ? c._gdtr : c._idtr;
        uint linear = c.LinearWrite(d.Segment, c.Ea(ref d), 6);
        c.WriteLinear16(linear, table.Limit);
        c.WriteLinear32(linear + 2, table.Base);
    }

    // ---- LDTR, TR -----------------------------------------------------------------------------

    /// <summary>SLDT, STR, SMSW: a register destination takes the whole value (zero-extended), memory takes 16 bits.</summary>
    private void StoreSystemWord(ref DecodedInstruction d, uint value)
    {
        if (d.HasMemory) Write16(d.Segment, Ea(ref d), (ushort)value);
        else if (d.OpSize32) R[d.R0] = value;
        else W16.SetReg(this, d.R0, value);
    }

    private static void StoreLdtr(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        c.StoreSystemWord(ref d, c._ldtr.Selector);
    }

    private static void StoreTr(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        c.StoreSystemWord(ref d, c._tr.Selector);
    }

    private static void LoadLdtr(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        c.RequireCpl0();
        ushort selector = (ushort)c.ReadRm<W16>(ref d, d.R0);
        uint error = (uint)selector & 0xFFFC;
        if (error == 0)
        {
            // A null selector marks the LDT invalid: any later reference through it is #GP.
            c._ldtr = new SegmentCache { Selector = selector };
            c._ldtr.Refresh(usable: false);
            return;
        }
        if ((selector & 4) != 0) ThrowFault(ExceptionVectors.GeneralProtection, error);
        var ldt = ParseDescriptor(selector, c.ReadDescriptor(selector));
        if (!ldt.IsSystem || (ldt.Access & 0x0F) != 0x02) ThrowFault(ExceptionVectors.GeneralProtection, error);
        if (!ldt.Present) ThrowFault(ExceptionVectors.SegmentNotPresent, error);
        c._ldtr = ldt;
    }

    private static void LoadTr(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        c.RequireCpl0();
        ushort selector = (ushort)c.ReadRm<W16>(ref d, d.R0);
        uint error = (uint)selector & 0xFFFC;
        if (error == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        if ((selector & 4) != 0) ThrowFault(ExceptionVectors.GeneralProtection, error);
        ulong descriptor = c.ReadDescriptor(selector);
        var tss = ParseDescriptor(selector, descriptor);
        // Only an available TSS (16-bit type 1, 32-bit type 9) can be loaded.
        if (!tss.IsSystem || (tss.Access & 0x0F) is not (0x01 or 0x09)) ThrowFault(ExceptionVectors.GeneralProtection, error);
        if (!tss.Present) ThrowFault(ExceptionVectors.SegmentNotPresent, error);
        // Mark it busy in the GDT and in the cache.
        c.WriteSystem8(c.DescriptorAddress(selector) + 5, (byte)(tss.Access | 0x02));
        tss.Access |= 0x02;
        c._tr = tss;
    }

    // ---- machine status word ------------------------------------------------------------------

    /// <summary>LMSW: loads PE, MP, EM, TS; PE can be set but not cleared.</summary>
    private static void LoadMsw(Cpu c, ref DecodedInstruction d)
    {
        c.RequireCpl0();
        uint msw = c.ReadRm<W16>(ref d, d.R0) & 0xF;
        uint value = (c._cr0 & ~0xEu) | msw | (c._cr0 & CR0_PE);
        c.WriteCr0(value);
    }

    private static void StoreMsw(Cpu c, ref DecodedInstruction d) => c.StoreSystemWord(ref d, c._cr0);

    private static void ClearTaskSwitched(Cpu c, ref DecodedInstruction d)
    {
        c.RequireCpl0();
        c._cr0 &= ~CR0_TS;
    }

    // ---- protection probes --------------------------------------------------------------------

    /// <summary>ARPL: raises the destination selector's RPL to the source's; ZF tells whether it did.</summary>
    private static void AdjustRpl(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        uint source = W16.GetReg(c, d.R1);
        if (d.HasMemory)
        {
            uint linear = c.RmwLinear<W16>(ref d);
            uint dest = c.ReadLinear16(linear);
            if ((dest & 3) < (source & 3))
            {
                c.WriteLinear16(linear, (ushort)((dest & ~3u) | (source & 3)));
                c.SetFlag(ZF, true);
            }
            else c.SetFlag(ZF, false);
        }
        else
        {
            uint dest = W16.GetReg(c, d.R0);
            if ((dest & 3) < (source & 3))
            {
                W16.SetReg(c, d.R0, (dest & ~3u) | (source & 3));
                c.SetFlag(ZF, true);
            }
            else c.SetFlag(ZF, false);
        }
    }

    /// <summary>
    /// The descriptor a LAR/LSL/VERR/VERW selector names, if it is inside the GDT or LDT and visible at
    /// the current privilege (conforming code is visible from every level). No accessed bit is set.
    /// </summary>
    private bool TryProbeDescriptor(ushort selector, out SegmentCache segment, out uint high)
    {
        segment = default;
        high = 0;
        if ((selector & 0xFFFC) == 0 || !TryDescriptorAddress(selector, out uint address)) return false;
        high = ReadSystem32(address + 4);
        segment = ParseDescriptor(selector, ((ulong)high << 32) | ReadSystem32(address));
        if (segment.IsConforming) return true;
        int dpl = segment.Dpl;
        return dpl >= _cpl && dpl >= (selector & 3);
    }

    private static uint ProbeSelector(Cpu c, ref DecodedInstruction d) => c.ReadRm<W16>(ref d, d.R1);

    private static void LoadAccessRights(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        ushort selector = (ushort)ProbeSelector(c, ref d);
        bool ok = c.TryProbeDescriptor(selector, out var s, out uint high);
        // System types LAR may report: TSSs (available and busy), LDT, call and task gates.
        if (ok && s.IsSystem && (s.Access & 0x0F) is not (0x01 or 0x02 or 0x03 or 0x04 or 0x05 or 0x09 or 0x0B or 0x0C)) ok = false;
        if (ok)
        {
            // The access byte and G, D/B, L, AVL, in place (bits 23:8 of the high dword, limit bits masked).
            if (d.OpSize32) c.R[d.R0] = high & 0x00F0_FF00;
            else W16.SetReg(c, d.R0, high & 0xFF00);
        }
        c.SetFlag(ZF, ok);
    }

    private static void LoadSegmentLimit(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        ushort selector = (ushort)ProbeSelector(c, ref d);
        bool ok = c.TryProbeDescriptor(selector, out var s, out _);
        // System types with a limit: TSSs and the LDT (gates have none).
        if (ok && s.IsSystem && (s.Access & 0x0F) is not (0x01 or 0x02 or 0x03 or 0x09 or 0x0B)) ok = false;
        if (ok)
        {
            if (d.OpSize32) c.R[d.R0] = s.Limit;
            else W16.SetReg(c, d.R0, s.Limit);
        }
        c.SetFlag(ZF, ok);
    }

    private static void VerifyRead(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        ushort selector = (ushort)c.ReadRm<W16>(ref d, d.R0);
        bool ok = c.TryProbeDescriptor(selector, out var s, out _) && !s.IsSystem && (!s.IsCode || (s.Access & 2) != 0);
        c.SetFlag(ZF, ok);
    }

    private static void VerifyWrite(Cpu c, ref DecodedInstruction d)
    {
        c.RequireProtectedMode();
        ushort selector = (ushort)c.ReadRm<W16>(ref d, d.R0);
        bool ok = c.TryProbeDescriptor(selector, out var s, out _) && !s.IsSystem && !s.IsCode && (s.Access & 2) != 0;
        c.SetFlag(ZF, ok);
    }

    // ---- control and debug registers ----------------------------------------------------------

    private static void MoveFromControl(Cpu c, ref DecodedInstruction d)
    {
        uint value = d.R1 switch
        {
            0 => c._cr0,
            2 => c._cr2,
            3 => c._cr3,
            4 => c._cr4,
            _ => InvalidOpcodeValue(),
        };
        c.RequireCpl0();
        c.R[d.R0] = value;
    }

    private static void MoveToControl(Cpu c, ref DecodedInstruction d)
    {
        if (d.R0 is not (0 or 2 or 3 or 4)) InvalidOpcode();
        c.RequireCpl0();
        uint value = c.R[d.R1];
        switch (d.R0)
        {
            case 0:
                c.WriteCr0(value & Cr0Implemented);
                break;
            case 2:
                c._cr2 = value;
                break;
            case 3:
                // Page-directory base, PWT and PCD; the rest is reserved and ignored.
                c._cr3 = value & 0xFFFF_F018;
                c.FlushTlb(global: false);
                break;
            case 4:
                if ((value & ~Cr4Implemented) != 0) ThrowFault(ExceptionVectors.GeneralProtection);
                uint changed = c._cr4 ^ value;
                c._cr4 = value;
                // Changing PSE or PGE invalidates every translation, global ones included.
                if ((changed & (CR4_PSE | CR4_PGE)) != 0) c.FlushTlb(global: true);
                break;
        }
    }

    private static uint InvalidOpcodeValue()
    {
        InvalidOpcode();
        return 0;
    }

    /// <summary>DR4/DR5 alias DR6/DR7 unless CR4.DE is set, when they are #UD.</summary>
    private int DebugRegisterIndex(int index)
    {
        if (index is 4 or 5)
        {
            if ((_cr4 & CR4_DE) != 0) InvalidOpcode();
            return index + 2;
        }
        return index;
    }

    private static void MoveFromDebug(Cpu c, ref DecodedInstruction d)
    {
        int index = c.DebugRegisterIndex(d.R1);
        c.RequireCpl0();
        c.R[d.R0] = c._dr[index];
    }

    private static void MoveToDebug(Cpu c, ref DecodedInstruction d)
    {
        int index = c.DebugRegisterIndex(d.R0);
        c.RequireCpl0();
        uint value = c.R[d.R1];
        switch (index)
        {
            case 6:
                // B0-B3, BD, BS, BT are writable; the reserved bits read as 1 (bit 12 as 0).
                value = (value & 0x0000_E00F) | 0xFFFF_0FF0;
                break;
            case 7:
                value = (value & 0xFFFF_2BFF) | 0x0000_0400;
                if ((value & 0xFF) != 0)
                    c.LogNotImplemented($"DR7 = 0x{value:X8} enables hardware breakpoints, which are not implemented: they will not trigger");
                break;
        }
        c._dr[index] = value;
    }

    private static void CacheControl(Cpu c, ref DecodedInstruction d) => c.RequireCpl0();

    /// <summary>INVLPG: no segment limit check (SDM); drops the translation of the page, global or not.</summary>
    private static void InvalidatePageEntry(Cpu c, ref DecodedInstruction d)
    {
        c.RequireCpl0();
        c.InvalidatePage(c.S[d.Segment].Base + c.Ea(ref d));
    }

    // ---- identification, time, MSRs -----------------------------------------------------------

    private static void CpuIdentification(Cpu c, ref DecodedInstruction d)
    {
        switch (c.R[EAX])
        {
            case 0:
                c.R[EAX] = CpuidMaxLeaf;
                c.R[EBX] = 0x756E_6547; // "Genu"
                c.R[EDX] = 0x4965_6E69; // "ineI"
                c.R[ECX] = 0x6C65_746E; // "ntel"
                break;
            case 1:
                c.R[EAX] = CpuidSignature;
                c.R[EBX] = 0; // brand index 0, no CLFLUSH, one logical processor, APIC ID 0
                c.R[ECX] = 0;
                c.R[EDX] = CpuidFeatures;
                // Leaf 1 is what latches the microcode revision into IA32_BIOS_SIGN_ID.
                c._biosSignId = (ulong)MicrocodeRevision << 32;
                break;
            default:
                // Leaf 2, and every leaf above the maximum (basic or extended): the highest basic leaf.
                c.R[EAX] = CpuidCacheEax;
                c.R[EBX] = 0;
                c.R[ECX] = 0;
                c.R[EDX] = CpuidCacheEdx;
                break;
        }
    }

    internal ulong TimeStampCounter => _bus.ReadTimeStampCounter(_position) + _tscOffset;

    private static void ReadTimeStamp(Cpu c, ref DecodedInstruction d)
    {
        if ((c._cr4 & CR4_TSD) != 0 && c._cpl != 0 && c.ProtectedMode) ThrowFault(ExceptionVectors.GeneralProtection);
        ulong tsc = c.TimeStampCounter;
        c.R[EAX] = (uint)tsc;
        c.R[EDX] = (uint)(tsc >> 32);
    }

    private static void ReadMsr(Cpu c, ref DecodedInstruction d)
    {
        c.RequireCpl0();
        ulong value = c.R[ECX] switch
        {
            MsrTimeStampCounter => c.TimeStampCounter,
            MsrPlatformId => 0, // platform ID (bits 52:50) 0
            MsrBiosSignId => c._biosSignId,
            MsrSysenterCs => c._sysenterCs,
            MsrSysenterEsp => c._sysenterEsp,
            MsrSysenterEip => c._sysenterEip,
            _ => UnknownMsr(),
        };
        c.R[EAX] = (uint)value;
        c.R[EDX] = (uint)(value >> 32);
    }

    private static void WriteMsr(Cpu c, ref DecodedInstruction d)
    {
        c.RequireCpl0();
        ulong value = ((ulong)c.R[EDX] << 32) | c.R[EAX];
        switch (c.R[ECX])
        {
            case MsrTimeStampCounter:
                // Before family 0Fh model 3 only the low dword is written; the high one becomes 0 (SDM vol. 3, 18.17).
                c._tscOffset = (value & 0xFFFF_FFFF) - c._bus.ReadTimeStampCounter(c._position);
                break;
            case MsrBiosSignId:
                c._biosSignId = value;
                break;
            case MsrSysenterCs:
                c._sysenterCs = value & 0xFFFF_FFFF;
                break;
            case MsrSysenterEsp:
                c._sysenterEsp = value & 0xFFFF_FFFF;
                break;
            case MsrSysenterEip:
                c._sysenterEip = value & 0xFFFF_FFFF;
                break;
            default:
                UnknownMsr();
                break;
        }
    }

    private static ulong UnknownMsr()
    {
        ThrowFault(ExceptionVectors.GeneralProtection);
        return 0;
    }

    // ---- SYSENTER / SYSEXIT -------------------------------------------------------------------

    /// <summary>The flat 4 GiB segment SYSENTER and SYSEXIT load without reading any descriptor.</summary>
    private static SegmentCache FlatSegment(ushort selector, bool code, int dpl)
    {
        var s = new SegmentCache
        {
            Selector = selector,
            Base = 0,
            Limit = 0xFFFF_FFFF,
            // Code: execute/read, accessed; data: read/write, accessed.
            Access = (byte)((code ? 0x9B : 0x93) | (dpl << 5)),
            Big = true,
            Granular = true,
        };
        s.Refresh();
        return s;
    }

    private static void SystemEnter(Cpu c, ref DecodedInstruction d)
    {
        ushort cs = (ushort)c._sysenterCs;
        if (!c.ProtectedMode || (cs & 0xFFFC) == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        c._flags &= ~(VM | IF | RF);
        c.R[ESP] = (uint)c._sysenterEsp;
        c.S[(int)SegmentRegister.SS] = FlatSegment((ushort)((cs & 0xFFFC) + 8), code: false, dpl: 0);
        c.SetCodeSegment(FlatSegment((ushort)(cs & 0xFFFC), code: true, dpl: 0), 0);
        c._eip = (uint)c._sysenterEip;
    }

    private static void SystemExit(Cpu c, ref DecodedInstruction d)
    {
        ushort cs = (ushort)c._sysenterCs;
        if (!c.ProtectedMode || c.V86 || c._cpl != 0 || (cs & 0xFFFC) == 0) ThrowFault(ExceptionVectors.GeneralProtection);
        c.R[ESP] = c.R[ECX];
        c.S[(int)SegmentRegister.SS] = FlatSegment((ushort)((cs + 24) | 3), code: false, dpl: 3);
        c.SetCodeSegment(FlatSegment((ushort)((cs + 16) | 3), code: true, dpl: 3), 3);
        c._eip = c.R[EDX];
    }
}
