namespace VmFt.Guest.Processor;

// Descriptor tables and segment register loads in protected mode (Intel SDM vol. 3, ch. 3 and 5).
public sealed unsafe partial class Cpu
{
    /// <summary>Linear address of the descriptor a selector names; #GP(selector) (or the given vector) when it lies outside the table.</summary>
    /// <remarks><paramref name="ext"/> is the EXT bit for the error code (1 while delivering an interrupt or exception).</remarks>
    internal uint DescriptorAddress(ushort selector, int vector = ExceptionVectors.GeneralProtection, uint ext = 0)
    {
        if (!TryDescriptorAddress(selector, out uint address))
            throw new CpuFault(vector, ((uint)selector & 0xFFFC) | ext, true);
        return address;
    }

    /// <summary>Linear address of the descriptor a selector names, if it lies inside the GDT or a usable LDT.</summary>
    internal bool TryDescriptorAddress(ushort selector, out uint address)
    {
        uint index = (uint)selector & 0xFFF8;
        if ((selector & 4) != 0)
        {
            address = _ldtr.Base + index;
            return _ldtr.Usable && (_ldtr.Selector & 0xFFFC) != 0 && index + 7 <= _ldtr.Limit;
        }
        address = _gdtr.Base + index;
        return index + 7 <= _gdtr.Limit;
    }

    /// <summary>Reads the 8-byte descriptor for a selector (bounds-checked against the GDT or LDT).</summary>
    internal ulong ReadDescriptor(ushort selector, int vector = ExceptionVectors.GeneralProtection, uint ext = 0)
    {
        uint address = DescriptorAddress(selector, vector, ext);
        uint lo = ReadSystem32(address);
        uint hi = ReadSystem32(address + 4);
        return ((ulong)hi << 32) | lo;
    }

    /// <summary>The hidden-cache form of a segment descriptor.</summary>
    internal static SegmentCache ParseDescriptor(ushort selector, ulong descriptor)
    {
        uint lo = (uint)descriptor, hi = (uint)(descriptor >> 32);
        uint limit = (lo & 0xFFFF) | (hi & 0x000F_0000);
        bool granular = (hi & 0x0080_0000) != 0;
        if (granular) limit = (limit << 12) | 0xFFF;
        var s = new SegmentCache
        {
            Selector = selector,
            Base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF00_0000),
            Limit = limit,
            Access = (byte)(hi >> 8),
            Big = (hi & 0x0040_0000) != 0,
            Granular = granular,
        };
        s.Refresh();
        return s;
    }

    /// <summary>Sets the accessed bit of a code or data descriptor in memory, as a segment load does.</summary>
    internal void MarkAccessed(ushort selector, ulong descriptor)
    {
        if ((descriptor & (1UL << 40)) != 0) return;
        uint address = DescriptorAddress(selector);
        WriteSystem8(address + 5, (byte)((descriptor >> 40) | 1));
    }

    /// <summary>
    /// MOV/POP/LDS... into DS, ES, FS, GS or SS with every protected-mode check; in real and
    /// virtual-8086 mode only the selector and base change.
    /// </summary>
    internal void LoadSegment(int seg, ushort selector)
    {
        if (!ProtectedMode || V86)
        {
            ref SegmentCache s = ref S[seg];
            s.Selector = selector;
            s.Base = (uint)selector << 4;
            if (V86)
            {
                s.Limit = 0xFFFF;
                s.Access = (byte)(seg == (int)SegmentRegister.CS ? 0xFB : 0xF3);
                s.Big = false;
                s.Granular = false;
            }
            s.Refresh();
            // Outside protected mode only limits are checked, not types.
            s.Readable = s.Writable = true;
            if (seg == (int)SegmentRegister.CS) OnCodeSegmentChanged();
            return;
        }

        int rpl = selector & 3;
        if (seg == (int)SegmentRegister.SS)
        {
            if ((selector & 0xFFFC) == 0) throw new CpuFault(ExceptionVectors.GeneralProtection, 0, true);
            ulong desc = ReadDescriptor(selector);
            var cache = ParseDescriptor(selector, desc);
            if (rpl != _cpl || cache.IsSystem || cache.IsCode || (cache.Access & 2) == 0 || cache.Dpl != _cpl)
                throw new CpuFault(ExceptionVectors.GeneralProtection, (uint)selector & 0xFFFC, true);
            if (!cache.Present) throw new CpuFault(ExceptionVectors.StackFault, (uint)selector & 0xFFFC, true);
            MarkAccessed(selector, desc);
            cache.Access |= 1;
            S[seg] = cache;
            return;
        }

        if ((selector & 0xFFFC) == 0)
        {
            // A null selector loads, but any use of the register faults.
            ref SegmentCache n = ref S[seg];
            n = new SegmentCache { Selector = selector };
            n.Refresh(usable: false);
            return;
        }
        {
            ulong desc = ReadDescriptor(selector);
            var cache = ParseDescriptor(selector, desc);
            bool readableCode = cache.IsCode && (cache.Access & 2) != 0;
            if (cache.IsSystem || (cache.IsCode && !readableCode))
                throw new CpuFault(ExceptionVectors.GeneralProtection, (uint)selector & 0xFFFC, true);
            if (!cache.IsConforming && (rpl > cache.Dpl || _cpl > cache.Dpl))
                throw new CpuFault(ExceptionVectors.GeneralProtection, (uint)selector & 0xFFFC, true);
            if (!cache.Present) throw new CpuFault(ExceptionVectors.SegmentNotPresent, (uint)selector & 0xFFFC, true);
            MarkAccessed(selector, desc);
            cache.Access |= 1;
            S[seg] = cache;
        }
    }

    /// <summary>Installs a validated code segment in CS with the given privilege (the caller did the checks).</summary>
    internal void SetCodeSegment(SegmentCache cache, int cpl)
    {
        cache.Selector = (ushort)((cache.Selector & 0xFFFC) | cpl);
        cache.Refresh();
        S[(int)SegmentRegister.CS] = cache;
        SetCpl(cpl);
        OnCodeSegmentChanged();
    }

    /// <summary>After a return to an outer privilege level: data segments the new CPL may not use become null.</summary>
    internal void InvalidateSegmentsForOuterLevel()
    {
        foreach (int seg in (ReadOnlySpan<int>)[0, 3, 4, 5])
        {
            ref SegmentCache s = ref S[seg];
            if (!s.Usable) continue;
            bool dataOrNonConformingCode = !s.IsCode || !s.IsConforming;
            if (dataOrNonConformingCode && s.Dpl < _cpl)
            {
                s = new SegmentCache { Selector = 0 };
                s.Refresh(usable: false);
            }
        }
    }

    /// <summary>Reads SS:ESP for privilege level <paramref name="dpl"/> from the current TSS; #TS(TR) when the TSS is too short.</summary>
    internal (ushort Ss, uint Esp) ReadTssStack(int dpl, uint ext = 0)
    {
        bool tss32 = (_tr.Access & 0x0F) is 0x09 or 0x0B;
        if (tss32)
        {
            uint offset = (uint)(4 + dpl * 8);
            if (offset + 5 > _tr.Limit) throw new CpuFault(ExceptionVectors.InvalidTss, ((uint)_tr.Selector & 0xFFFC) | ext, true);
            return (ReadSystem16(_tr.Base + offset + 4), ReadSystem32(_tr.Base + offset));
        }
        else
        {
            uint offset = (uint)(2 + dpl * 4);
            if (offset + 3 > _tr.Limit) throw new CpuFault(ExceptionVectors.InvalidTss, ((uint)_tr.Selector & 0xFFFC) | ext, true);
            return (ReadSystem16(_tr.Base + offset + 2), ReadSystem16(_tr.Base + offset));
        }
    }

    /// <summary>
    /// Whether <paramref name="bytes"/> bytes can be pushed below <paramref name="esp"/> on <paramref name="ss"/>
    /// without a limit fault: the checks a stack switch makes before it writes anything.
    /// </summary>
    internal static bool StackHasRoom(in SegmentCache ss, uint esp, uint bytes)
    {
        uint mask = ss.Big ? 0xFFFF_FFFFu : 0xFFFFu;
        uint lowest = (esp - bytes) & mask, highest = (esp - 1) & mask;
        // Pushes that wrap around the top of the address range need a segment covering all of it.
        if (lowest > highest) return ss.ValidLow == 0 && ss.ValidHigh >= mask;
        return lowest >= ss.ValidLow && highest <= ss.ValidHigh;
    }

    /// <summary>Validates a new SS for an inner-level stack switch (from the TSS): #TS on any violation.</summary>
    internal SegmentCache LoadStackForLevel(ushort selector, int dpl, uint ext = 0)
    {
        uint error = ((uint)selector & 0xFFFC) | ext;
        if ((selector & 0xFFFC) == 0) throw new CpuFault(ExceptionVectors.InvalidTss, error, true);
        ulong desc = ReadDescriptor(selector, ExceptionVectors.InvalidTss, ext);
        var cache = ParseDescriptor(selector, desc);
        if ((selector & 3) != dpl || cache.Dpl != dpl || cache.IsSystem || cache.IsCode || (cache.Access & 2) == 0)
            throw new CpuFault(ExceptionVectors.InvalidTss, error, true);
        if (!cache.Present) throw new CpuFault(ExceptionVectors.StackFault, error, true);
        MarkAccessed(selector, desc);
        cache.Access |= 1;
        return cache;
    }
}
