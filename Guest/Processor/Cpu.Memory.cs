using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Processor;

// Linear and segmented memory access: a software TLB in front of the page walker, and the
// segment limit and permission checks in front of that.
//
// The TLB is direct mapped and split four ways by access kind (supervisor read, supervisor write,
// user read, user write), so a hit needs no permission test: an entry exists only where that kind
// of access is allowed. Only plain RAM pages are ever entered, so a hit can touch Ram directly.
// Write entries are never made for pages that hold decoded code, so the first store to such a
// page takes the slow path, which throws the decoded code away (self-modifying code).
public sealed unsafe partial class Cpu
{
    private const int TlbBits = 10;
    private const int TlbSize = 1 << TlbBits;
    private const uint TlbEmpty = 0xFFFF_FFFF;
    private const int KindSupRead = 0, KindSupWrite = 1, KindUserRead = 2, KindUserWrite = 3;

    /// <summary>Linear page number held by each entry, <see cref="TlbEmpty"/> if none; [kind * TlbSize + index].</summary>
    private readonly uint[] _tlbTag = new uint[4 * TlbSize];
    /// <summary>Physical address of the page's first byte (always inside RAM).</summary>
    private readonly uint[] _tlbPhys = new uint[4 * TlbSize];
    private readonly bool[] _tlbGlobal = new bool[4 * TlbSize];
    /// <summary>0 at CPL 0-2, 2 * TlbSize at CPL 3: where the current privilege's read entries start.</summary>
    private int _tlbPrivBase;
    /// <summary>Some entry may have been filled from a 4 MiB page since the last full flush.</summary>
    private bool _tlbHasLargePages;

    internal void SetCpl(int cpl)
    {
        _cpl = cpl;
        _tlbPrivBase = cpl == 3 ? KindUserRead * TlbSize : 0;
        _fetchPage = null;
    }

    /// <summary>Drops TLB entries: all of them, or (global: false, as a CR3 write does) those not marked global.</summary>
    internal void FlushTlb(bool global)
    {
        bool keepGlobal = !global && (_cr4 & CR4_PGE) != 0;
        if (!keepGlobal) _tlbHasLargePages = false;
        for (int i = 0; i < _tlbTag.Length; i++)
            if (!keepGlobal || !_tlbGlobal[i]) _tlbTag[i] = TlbEmpty;
        _fetchPage = null;
    }

    /// <summary>INVLPG: drops every entry for the page holding <paramref name="linear"/>, global or not.</summary>
    internal void InvalidatePage(uint linear)
    {
        // The TLB keeps a 4 MiB page as separate 4 KiB entries; INVLPG must drop the whole large
        // page, so while any came from one, flush everything (allowed: entries may go at any time).
        if (_tlbHasLargePages)
        {
            FlushTlb(global: true);
            return;
        }
        uint page = linear >> 12;
        int index = (int)(page & (TlbSize - 1));
        for (int kind = 0; kind < 4; kind++)
            if (_tlbTag[kind * TlbSize + index] == page) _tlbTag[kind * TlbSize + index] = TlbEmpty;
        _fetchPage = null;
    }

    /// <summary>
    /// After <see cref="PhysicalMemory.ClearWritten"/>: every page this CPU can still store to
    /// without asking counts as written again (no entry is dropped: translations are state a replay
    /// must keep exactly, since refilling one sets accessed bits).
    /// </summary>
    public void MarkWritablePagesWritten()
    {
        for (int kind = KindSupWrite; kind <= KindUserWrite; kind += 2)
            for (int i = kind * TlbSize; i < (kind + 1) * TlbSize; i++)
                if (_tlbTag[i] != TlbEmpty) _memory.MarkWritten(_tlbPhys[i] >> 12);
    }

    /// <summary>Drops write entries for every page: done when a page first receives decoded code.</summary>
    private void FlushTlbWrites()
    {
        Array.Fill(_tlbTag, TlbEmpty, KindSupWrite * TlbSize, TlbSize);
        Array.Fill(_tlbTag, TlbEmpty, KindUserWrite * TlbSize, TlbSize);
    }

    // ---- page walk ----------------------------------------------------------------------------

    /// <summary>
    /// Translates a linear address, checking permissions and setting accessed and dirty bits as the
    /// hardware does; raises #PF (with CR2 and the error code) when the access is not allowed.
    /// Fills the TLB for RAM pages.
    /// </summary>
    private uint Translate(uint linear, bool write, bool user)
    {
        uint physical;
        bool global = false;
        bool writable = true;
        if ((_cr0 & CR0_PG) == 0)
        {
            physical = linear & _a20Mask;
        }
        else
        {
            uint pdeAddress = ((_cr3 & 0xFFFF_F000) | ((linear >> 20) & 0xFFC)) & _a20Mask;
            uint pde = ReadPhys32(pdeAddress);
            if ((pde & 1) == 0) PageFault(linear, present: false, write, user);
            if ((pde & 0x80) != 0 && (_cr4 & CR4_PSE) != 0)
            {
                // 4 MiB page.
                CheckPagePermission(linear, pde, pde, write, user);
                uint updated = pde | 0x20 | (write ? 0x40u : 0);
                if (updated != pde) WritePhys32(pdeAddress, updated);
                physical = ((pde & 0xFFC0_0000) | (linear & 0x003F_FFFF)) & _a20Mask;
                _tlbHasLargePages = true;
                global = (pde & 0x100) != 0 && (_cr4 & CR4_PGE) != 0;
                writable = (pde & 2) != 0 || (!user && (_cr0 & CR0_WP) == 0);
                if (!write && (pde & 0x40) == 0) writable = false; // stay on the slow path until D is set
            }
            else
            {
                uint pteAddress = ((pde & 0xFFFF_F000) | ((linear >> 10) & 0xFFC)) & _a20Mask;
                uint pte = ReadPhys32(pteAddress);
                if ((pte & 1) == 0) PageFault(linear, present: false, write, user);
                CheckPagePermission(linear, pde, pte, write, user);
                if ((pde & 0x20) == 0) WritePhys32(pdeAddress, pde | 0x20);
                uint updated = pte | 0x20 | (write ? 0x40u : 0);
                if (updated != pte) WritePhys32(pteAddress, updated);
                physical = ((pte & 0xFFFF_F000) | (linear & 0xFFF)) & _a20Mask;
                global = (pte & 0x100) != 0 && (_cr4 & CR4_PGE) != 0;
                writable = ((pde & pte & 2) != 0) || (!user && (_cr0 & CR0_WP) == 0);
                if (!write && (pte & 0x40) == 0) writable = false;
            }
        }

        uint physPage = physical & 0xFFFF_F000;
        // Pages holding watched bytes stay out of the TLB, so every access to them is checked.
        if (physPage < _ramSize && _memory.KindOf(physPage) == PageKind.Ram && (_traps is null || !_traps.WatchesPage(linear >> 12)))
        {
            uint page = linear >> 12;
            int index = (int)(page & (TlbSize - 1));
            int readKind = user ? KindUserRead : KindSupRead;
            Fill(readKind * TlbSize + index, page, physPage, global);
            // A write entry lets stores bypass PhysicalMemory: the page counts as written from now.
            if ((write && !IsCodePage(physPage >> 12)) || (!write && writable && !IsCodePage(physPage >> 12) && (_cr0 & CR0_PG) == 0))
            {
                Fill((readKind + 1) * TlbSize + index, page, physPage, global);
                _memory.MarkWritten(physPage >> 12);
            }
        }
        return physical;
    }

    private void Fill(int slot, uint page, uint physPage, bool global)
    {
        _tlbTag[slot] = page;
        _tlbPhys[slot] = physPage;
        _tlbGlobal[slot] = global;
    }

    private void CheckPagePermission(uint linear, uint pde, uint pte, bool write, bool user)
    {
        if (user)
        {
            if ((pde & pte & 4) == 0) PageFault(linear, present: true, write, user);
            if (write && (pde & pte & 2) == 0) PageFault(linear, present: true, write, user);
        }
        else if (write && (_cr0 & CR0_WP) != 0 && (pde & pte & 2) == 0)
        {
            PageFault(linear, present: true, write, user);
        }
    }

    [DoesNotReturn]
    private void PageFault(uint linear, bool present, bool write, bool user)
    {
        _cr2 = linear;
        throw new CpuFault(ExceptionVectors.PageFault, (present ? 1u : 0) | (write ? 2u : 0) | (user ? 4u : 0), true);
    }

    // ---- physical access (page tables, descriptor tables go through linear access) --------------

    private uint ReadPhys32(uint address) => _memory.ReadUInt32(address);

    private void WritePhys32(uint address, uint value)
    {
        _memory.Write(address, 4, value);
        if (address < _ramSize) NoteRamWrite(address, 4);
    }

    // ---- linear access --------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte ReadLinear8(uint linear)
    {
        uint page = linear >> 12;
        int slot = _tlbPrivBase + (int)(page & (TlbSize - 1));
        if (_tlbTag[slot] == page)
            return _ram[_tlbPhys[slot] | (linear & 0xFFF)];
        return (byte)ReadLinearSlow(linear, 1, _cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ushort ReadLinear16(uint linear)
    {
        uint page = linear >> 12;
        int slot = _tlbPrivBase + (int)(page & (TlbSize - 1));
        if (_tlbTag[slot] == page && (linear & 0xFFF) <= 0xFFE)
            return Unsafe.ReadUnaligned<ushort>(ref _ram[_tlbPhys[slot] | (linear & 0xFFF)]);
        return (ushort)ReadLinearSlow(linear, 2, _cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint ReadLinear32(uint linear)
    {
        uint page = linear >> 12;
        int slot = _tlbPrivBase + (int)(page & (TlbSize - 1));
        if (_tlbTag[slot] == page && (linear & 0xFFF) <= 0xFFC)
            return Unsafe.ReadUnaligned<uint>(ref _ram[_tlbPhys[slot] | (linear & 0xFFF)]);
        return ReadLinearSlow(linear, 4, _cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteLinear8(uint linear, byte value)
    {
        uint page = linear >> 12;
        int slot = _tlbPrivBase + TlbSize + (int)(page & (TlbSize - 1));
        if (_tlbTag[slot] == page)
            _ram[_tlbPhys[slot] | (linear & 0xFFF)] = value;
        else
            WriteLinearSlow(linear, 1, value, _cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteLinear16(uint linear, ushort value)
    {
        uint page = linear >> 12;
        int slot = _tlbPrivBase + TlbSize + (int)(page & (TlbSize - 1));
        if (_tlbTag[slot] == page && (linear & 0xFFF) <= 0xFFE)
            Unsafe.WriteUnaligned(ref _ram[_tlbPhys[slot] | (linear & 0xFFF)], value);
        else
            WriteLinearSlow(linear, 2, value, _cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteLinear32(uint linear, uint value)
    {
        uint page = linear >> 12;
        int slot = _tlbPrivBase + TlbSize + (int)(page & (TlbSize - 1));
        if (_tlbTag[slot] == page && (linear & 0xFFF) <= 0xFFC)
            Unsafe.WriteUnaligned(ref _ram[_tlbPhys[slot] | (linear & 0xFFF)], value);
        else
            WriteLinearSlow(linear, 4, value, _cpl == 3);
    }

    /// <summary>
    /// The general read: any size, any alignment, any page kind, with an explicit privilege (system
    /// structures such as the GDT, IDT and TSS are read with supervisor privilege whatever the CPL).
    /// A read that crosses a page translates both pages before reading either.
    /// </summary>
    internal uint ReadLinearSlow(uint linear, int size, bool user)
    {
        _slowAccess = true;
        _traps?.OnAccess(linear, size, write: false, _position);
        return ReadLinearUnwatched(linear, size, user);
    }

    private uint ReadLinearUnwatched(uint linear, int size, bool user)
    {
        uint last = linear + (uint)size - 1;
        uint p0 = Translate(linear, write: false, user);
        if ((last & 0xFFFF_F000) == (linear & 0xFFFF_F000))
            return ReadPhysical(p0, size);
        uint p1 = Translate(last & 0xFFFF_F000, write: false, user);
        uint value = 0;
        for (int i = 0; i < size; i++)
        {
            uint lin = linear + (uint)i;
            uint phys = (lin & 0xFFFF_F000) == (linear & 0xFFFF_F000) ? p0 + (uint)i : p1 + (lin & 0xFFF);
            value |= (uint)_memory.ReadByte(phys) << (8 * i);
        }
        return value;
    }

    internal void WriteLinearSlow(uint linear, int size, uint value, bool user)
    {
        _slowAccess = true;
        _traps?.OnAccess(linear, size, write: true, _position);
        uint last = linear + (uint)size - 1;
        uint p0 = Translate(linear, write: true, user);
        if ((last & 0xFFFF_F000) == (linear & 0xFFFF_F000))
        {
            WritePhysical(p0, size, value);
            return;
        }
        uint p1 = Translate(last & 0xFFFF_F000, write: true, user);
        for (int i = 0; i < size; i++)
        {
            uint lin = linear + (uint)i;
            uint phys = (lin & 0xFFFF_F000) == (linear & 0xFFFF_F000) ? p0 + (uint)i : p1 + (lin & 0xFFF);
            WritePhysical(phys, 1, (byte)(value >> (8 * i)));
        }
    }

    private uint ReadPhysical(uint physical, int size)
    {
        if (physical <= _ramSize - (uint)size && _memory.KindOf(physical) == PageKind.Ram)
        {
            return size switch
            {
                1 => _ram[physical],
                2 => Unsafe.ReadUnaligned<ushort>(ref _ram[physical]),
                _ => Unsafe.ReadUnaligned<uint>(ref _ram[physical]),
            };
        }
        return _memory.Read(physical, size);
    }

    private void WritePhysical(uint physical, int size, uint value)
    {
        if (physical <= _ramSize - (uint)size && _memory.KindOf(physical) == PageKind.Ram)
        {
            switch (size)
            {
                case 1: _ram[physical] = (byte)value; break;
                case 2: Unsafe.WriteUnaligned(ref _ram[physical], (ushort)value); break;
                default: Unsafe.WriteUnaligned(ref _ram[physical], value); break;
            }
            _memory.MarkWritten(physical >> 12);
            _memory.MarkWritten((physical + (uint)size - 1) >> 12);
            NoteRamWrite(physical, size);
            return;
        }
        _memory.Write(physical, size, value);
    }

    /// <summary>A store to RAM on the slow path: if it overwrote decoded code, that code is dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void NoteRamWrite(uint physical, int size)
    {
        uint first = physical >> 12, last = (physical + (uint)size - 1) >> 12;
        if (IsCodePage(first)) NoteCodePageWrite(physical, size);
        if (last != first && last < _decodePages.Length && IsCodePage(last))
            NoteCodePageWrite(last << 12, (int)((physical + (uint)size) - (last << 12)));
    }

    // Supervisor-privilege access to system structures (GDT, LDT, IDT, TSS), whatever the CPL.
    internal uint ReadSystem32(uint linear) => ReadLinearSlow(linear, 4, user: false);
    internal ushort ReadSystem16(uint linear) => (ushort)ReadLinearSlow(linear, 2, user: false);
    internal byte ReadSystem8(uint linear) => (byte)ReadLinearSlow(linear, 1, user: false);
    internal void WriteSystem32(uint linear, uint value) => WriteLinearSlow(linear, 4, value, user: false);
    internal void WriteSystem16(uint linear, ushort value) => WriteLinearSlow(linear, 2, value, user: false);
    internal void WriteSystem8(uint linear, byte value) => WriteLinearSlow(linear, 1, value, user: false);

    // ---- segmented access -----------------------------------------------------------------------

    /// <summary>
    /// Segment checks for a data access of <paramref name="size"/> bytes at <paramref name="offset"/>:
    /// usable, readable or writable, within limits. Returns the linear address.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint LinearRead(int seg, uint offset, uint size)
    {
        ref SegmentCache s = ref S[seg];
        if (offset < s.ValidLow || offset > s.ValidHigh - (size - 1) || s.ValidHigh < size - 1 || !s.Readable || !s.Usable)
            SegmentViolation(seg, offset, size, write: false);
        return s.Base + offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint LinearWrite(int seg, uint offset, uint size)
    {
        ref SegmentCache s = ref S[seg];
        if (offset < s.ValidLow || offset > s.ValidHigh - (size - 1) || s.ValidHigh < size - 1 || !s.Writable || !s.Usable)
            SegmentViolation(seg, offset, size, write: true);
        return s.Base + offset;
    }

    [DoesNotReturn]
    private void SegmentViolation(int seg, uint offset, uint size, bool write)
    {
        // Stack-segment violations are #SS, all others #GP; both with error code 0 for limit faults.
        int vector = seg == (int)SegmentRegister.SS ? ExceptionVectors.StackFault : ExceptionVectors.GeneralProtection;
        throw new CpuFault(vector, 0, true);
    }

    internal byte Read8(int seg, uint offset) => ReadLinear8(LinearRead(seg, offset, 1));
    internal ushort Read16(int seg, uint offset) => ReadLinear16(LinearRead(seg, offset, 2));
    internal uint Read32(int seg, uint offset) => ReadLinear32(LinearRead(seg, offset, 4));
    internal void Write8(int seg, uint offset, byte value) => WriteLinear8(LinearWrite(seg, offset, 1), value);
    internal void Write16(int seg, uint offset, ushort value) => WriteLinear16(LinearWrite(seg, offset, 2), value);
    internal void Write32(int seg, uint offset, uint value) => WriteLinear32(LinearWrite(seg, offset, 4), value);

    /// <summary>Instruction fetch of one byte at a linear address (used by the decoder); fetches are not data accesses, so watchpoints ignore them.</summary>
    internal byte FetchLinear8(uint linear)
    {
        uint page = linear >> 12;
        int slot = _tlbPrivBase + (int)(page & (TlbSize - 1));
        if (_tlbTag[slot] == page)
            return _ram[_tlbPhys[slot] | (linear & 0xFFF)];
        return (byte)ReadLinearUnwatched(linear, 1, _cpl == 3);
    }

    /// <summary>
    /// Reads guest memory through the current address translation for an observer (debugger,
    /// diagnostics): no fault, no accessed or dirty bits, no TLB fill. False if a page is unmapped.
    /// </summary>
    public bool TryReadLinear(uint linear, Span<byte> buffer)
    {
        for (int i = 0; i < buffer.Length; i++)
        {
            if (!TryTranslateQuietly(linear + (uint)i, out uint physical)) return false;
            buffer[i] = _memory.ReadByte(physical);
        }
        return true;
    }

    /// <summary>A page walk that changes nothing (supervisor view).</summary>
    public bool TryTranslateQuietly(uint linear, out uint physical)
    {
        physical = 0;
        if ((_cr0 & CR0_PG) == 0)
        {
            physical = linear & _a20Mask;
            return true;
        }
        uint pde = _memory.ReadUInt32(((_cr3 & 0xFFFF_F000) | ((linear >> 20) & 0xFFC)) & _a20Mask);
        if ((pde & 1) == 0) return false;
        if ((pde & 0x80) != 0 && (_cr4 & CR4_PSE) != 0)
        {
            physical = ((pde & 0xFFC0_0000) | (linear & 0x003F_FFFF)) & _a20Mask;
            return true;
        }
        uint pte = _memory.ReadUInt32(((pde & 0xFFFF_F000) | ((linear >> 10) & 0xFFC)) & _a20Mask);
        if ((pte & 1) == 0) return false;
        physical = ((pte & 0xFFFF_F000) | (linear & 0xFFF)) & _a20Mask;
        return true;
    }
}
