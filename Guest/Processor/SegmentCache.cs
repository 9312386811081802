namespace VmFt.Guest.Processor;

/// <summary>
/// The hidden part of a segment register: what the CPU loaded from the descriptor (or computed in
/// real mode) and uses for every access until the register is loaded again.
/// </summary>
public struct SegmentCache
{
    public ushort Selector;
    public uint Base;
    /// <summary>Limit in bytes (granularity already applied).</summary>
    public uint Limit;
    /// <summary>Descriptor access byte: P, DPL, S, type (bits 15:8 of the descriptor's high dword).</summary>
    public byte Access;
    /// <summary>D/B bit: 32-bit default operand size (code) or 32-bit stack pointer (SS) / upper bound (expand-down).</summary>
    public bool Big;
    /// <summary>G bit as loaded (kept so that the cache serializes exactly; the limit is already scaled).</summary>
    public bool Granular;

    // Derived from the fields above by Refresh(); every access checks against these.
    /// <summary>Lowest valid offset.</summary>
    internal uint ValidLow;
    /// <summary>Highest valid offset.</summary>
    internal uint ValidHigh;
    internal bool Readable;
    internal bool Writable;
    /// <summary>False for a null selector loaded in protected mode: any access faults.</summary>
    internal bool Usable;

    public readonly bool Present => (Access & 0x80) != 0;
    public readonly int Dpl => (Access >> 5) & 3;
    public readonly bool IsSystem => (Access & 0x10) == 0;
    public readonly bool IsCode => (Access & 0x18) == 0x18;
    public readonly bool IsConforming => (Access & 0x1C) == 0x1C;
    public readonly bool IsExpandDown => (Access & 0x1C) == 0x14;

    /// <summary>Recomputes the derived check fields; call after changing any descriptor field.</summary>
    public void Refresh(bool usable = true)
    {
        Usable = usable;
        if (IsSystem)
        {
            Readable = Writable = false;
        }
        else if (IsCode)
        {
            Readable = (Access & 0x02) != 0;
            Writable = false;
        }
        else
        {
            Readable = true;
            Writable = (Access & 0x02) != 0;
        }
        if (!IsSystem && IsExpandDown)
        {
            ValidLow = Limit + 1;
            ValidHigh = Big ? 0xFFFF_FFFFu : 0xFFFFu;
        }
        else
        {
            ValidLow = 0;
            ValidHigh = Limit;
        }
    }

    /// <summary>A real-mode (or virtual-8086) segment: base = selector * 16, 64 KiB, read/write.</summary>
    public static SegmentCache RealMode(ushort selector)
    {
        var s = new SegmentCache
        {
            Selector = selector,
            Base = (uint)selector << 4,
            Limit = 0xFFFF,
            // Present, DPL 0, read/write, accessed: real mode checks limits, never types, so even
            // CS is writable through a CS: override (Intel SDM vol. 3, table 9-1 gives CS the same
            // "present, R/W, accessed" attributes after reset).
            Access = 0x93,
        };
        s.Refresh();
        return s;
    }
}
