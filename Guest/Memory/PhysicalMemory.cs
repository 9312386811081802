using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace VmFt.Guest.Memory;

/// <summary>What backs one 4 KiB page of the 32-bit physical address space.</summary>
public enum PageKind : byte
{
    /// <summary>Plain RAM: reads and writes go straight to <see cref="PhysicalMemory.Ram"/>.</summary>
    Ram = 0,
    /// <summary>Read-only memory: reads come from the ROM image, writes are ignored.</summary>
    Rom = 1,
    /// <summary>A memory-mapped device.</summary>
    Mmio = 2,
    /// <summary>Nothing decodes the address: reads are all ones, writes vanish.</summary>
    Unmapped = 3,
}

/// <summary>
/// The guest's physical address space: RAM from address 0, ROM images and memory-mapped devices
/// laid over it. The CPU reaches RAM directly through <see cref="Ram"/> for pages of kind
/// <see cref="PageKind.Ram"/> and goes through <see cref="Read"/>/<see cref="Write"/> for all others.
/// </summary>
public sealed class PhysicalMemory
{
    public const int PageShift = 12;
    public const uint PageSize = 1u << PageShift;
    private const int PageCount = 1 << (32 - PageShift);

    private readonly PageKind[] _kinds = new PageKind[PageCount];
    private readonly List<Region> _regions = [];

    /// <summary>Guest RAM. Its length is the RAM size; RAM always starts at physical address 0.</summary>
    public byte[] Ram { get; }

    public uint RamSize => (uint)Ram.Length;

    /// <summary>
    /// Called with a physical page number whenever something other than the CPU's own store path
    /// (a loader, a DMA transfer, a snapshot restore) writes RAM, so decoded-code caches can drop it.
    /// </summary>
    public Action<uint>? PageWrittenExternally { get; set; }

    // RAM pages written since the last ClearWritten; everything counts as written before the first.
    private readonly bool[] _written;
    private bool _tracking;

    public PhysicalMemory(uint ramSize)
    {
        if (ramSize < 1024 * 1024 || ramSize % PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(ramSize), "RAM must be at least 1 MiB and a multiple of 4 KiB");
        Ram = new byte[ramSize];
        uint ramPages = ramSize >> PageShift;
        _written = new bool[ramPages];
        for (uint p = 0; p < PageCount; p++)
            _kinds[p] = p < ramPages ? PageKind.Ram : PageKind.Unmapped;
    }

    /// <summary>
    /// Whether RAM page <paramref name="page"/> may have changed since <see cref="ClearWritten"/>
    /// (always true before the first): snapshots copy only such pages. A page counts as written
    /// when anything stores to it, and for as long as the CPU holds a write translation for it,
    /// whose stores bypass this class (<see cref="VmFt.Guest.Processor.Cpu.MarkWritablePagesWritten"/>).
    /// </summary>
    public bool WasWritten(int page) => !_tracking || _written[page];

    /// <summary>Starts a new interval in which written pages are noted (the CPU must then mark its writable pages).</summary>
    public void ClearWritten()
    {
        Array.Clear(_written);
        _tracking = true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkWritten(uint page)
    {
        if (page < (uint)_written.Length) _written[page] = true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PageKind KindOf(uint physicalAddress) => _kinds[physicalAddress >> PageShift];

    /// <summary>Maps a ROM image at <paramref name="baseAddress"/> (page aligned); it hides RAM beneath it.</summary>
    public void MapRom(uint baseAddress, byte[] image)
    {
        if (baseAddress % PageSize != 0) throw new ArgumentException("ROM base must be page aligned", nameof(baseAddress));
        uint length = ((uint)image.Length + PageSize - 1) & ~(PageSize - 1);
        var padded = new byte[length];
        Array.Fill(padded, (byte)0xFF);
        image.CopyTo(padded, 0);
        AddRegion(new Region(baseAddress, length, PageKind.Rom, padded, null));
    }

    /// <summary>Maps <paramref name="device"/> over <paramref name="length"/> bytes at <paramref name="baseAddress"/> (page aligned).</summary>
    public void MapMmio(uint baseAddress, uint length, IMmioDevice device)
    {
        if (baseAddress % PageSize != 0 || length % PageSize != 0 || length == 0)
            throw new ArgumentException("MMIO windows must be whole pages");
        AddRegion(new Region(baseAddress, length, PageKind.Mmio, null, device));
    }

    private void AddRegion(Region region)
    {
        ulong end = (ulong)region.Base + region.Length;
        if (end > 1UL << 32) throw new ArgumentException("region runs past 4 GiB");
        foreach (var r in _regions)
            if (region.Base < (ulong)r.Base + r.Length && r.Base < end)
                throw new ArgumentException($"region at 0x{region.Base:X8} overlaps one at 0x{r.Base:X8}");
        _regions.Add(region);
        for (ulong a = region.Base; a < end; a += PageSize)
            _kinds[a >> PageShift] = region.Kind;
    }

    private Region? FindRegion(uint address)
    {
        foreach (var r in _regions)
            if (address - r.Base < r.Length) return r;
        return null;
    }

    /// <summary>
    /// Maps <paramref name="device"/> over <paramref name="length"/> bytes at <paramref name="baseAddress"/>
    /// if that window is page aligned, lies wholly above RAM and overlaps nothing else; false otherwise
    /// (a PCI BAR the guest programmed badly then decodes nothing). Pages above RAM never have CPU
    /// translations, so moving a window needs no flush.
    /// </summary>
    public bool TryMapMmioAboveRam(uint baseAddress, uint length, IMmioDevice device)
    {
        ulong end = (ulong)baseAddress + length;
        if (baseAddress % PageSize != 0 || length % PageSize != 0 || length == 0 || baseAddress < RamSize || end > 1UL << 32) return false;
        foreach (var r in _regions)
            if (baseAddress < (ulong)r.Base + r.Length && r.Base < end) return false;
        AddRegion(new Region(baseAddress, length, PageKind.Mmio, null, device));
        return true;
    }

    /// <summary>Removes every window of <paramref name="device"/> (above RAM: the pages become unmapped).</summary>
    public void UnmapMmio(IMmioDevice device)
    {
        for (int i = _regions.Count - 1; i >= 0; i--)
        {
            var r = _regions[i];
            if (!ReferenceEquals(r.Device, device)) continue;
            if (r.Base < RamSize) throw new InvalidOperationException("only windows above RAM can be unmapped");
            _regions.RemoveAt(i);
            for (ulong a = r.Base; a < (ulong)r.Base + r.Length; a += PageSize) _kinds[a >> PageShift] = PageKind.Unmapped;
        }
    }

    /// <summary>Reads 1, 2 or 4 bytes at any physical address (little-endian; may cross pages).</summary>
    public uint Read(uint address, int size)
    {
        if (size == 1) return ReadByte(address);
        // A device register is read in one access of its width, as the bus carries it.
        if (_kinds[address >> PageShift] == PageKind.Mmio && FindRegion(address) is { } mmio && address - mmio.Base <= mmio.Length - (uint)size)
            return mmio.Device!.Read(address - mmio.Base, size);
        uint value = 0;
        for (int i = 0; i < size; i++)
            value |= (uint)ReadByte(address + (uint)i) << (8 * i);
        return value;
    }

    /// <summary>Writes 1, 2 or 4 bytes at any physical address (little-endian; may cross pages).</summary>
    public void Write(uint address, int size, uint value)
    {
        if (size > 1 && _kinds[address >> PageShift] == PageKind.Mmio && FindRegion(address) is { } mmio && address - mmio.Base <= mmio.Length - (uint)size)
        {
            mmio.Device!.Write(address - mmio.Base, size, value);
            return;
        }
        for (int i = 0; i < size; i++)
            WriteByte(address + (uint)i, (byte)(value >> (8 * i)));
    }

    public byte ReadByte(uint address)
    {
        switch (_kinds[address >> PageShift])
        {
            case PageKind.Ram: return Ram[address];
            case PageKind.Rom:
            {
                var r = FindRegion(address)!;
                return r.Rom![address - r.Base];
            }
            case PageKind.Mmio:
            {
                var r = FindRegion(address)!;
                return (byte)r.Device!.Read(address - r.Base, 1);
            }
            default: return 0xFF;
        }
    }

    public void WriteByte(uint address, byte value)
    {
        switch (_kinds[address >> PageShift])
        {
            case PageKind.Ram:
                Ram[address] = value;
                _written[address >> PageShift] = true;
                break;
            case PageKind.Mmio:
            {
                var r = FindRegion(address)!;
                r.Device!.Write(address - r.Base, 1, value);
                break;
            }
        }
    }

    /// <summary>Copies <paramref name="data"/> into RAM at <paramref name="address"/>, as a loader or DMA does.</summary>
    public void Load(uint address, ReadOnlySpan<byte> data)
    {
        if ((ulong)address + (ulong)data.Length > RamSize)
            throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:X8}+{data.Length} lies outside RAM (0x{RamSize:X8} bytes)");
        data.CopyTo(Ram.AsSpan((int)address));
        NotifyWritten(address, (uint)data.Length);
    }

    /// <summary>Tells the code caches that RAM in [address, address+length) changed behind the CPU's back.</summary>
    public void NotifyWritten(uint address, uint length)
    {
        if (length == 0) return;
        for (uint page = address >> PageShift; page <= (address + length - 1) >> PageShift; page++) MarkWritten(page);
        if (PageWrittenExternally is not { } hook) return;
        for (uint page = address >> PageShift; page <= (address + length - 1) >> PageShift; page++)
            hook(page);
    }

    public uint ReadUInt32(uint address) =>
        address <= RamSize - 4 && KindOf(address) == PageKind.Ram && KindOf(address + 3) == PageKind.Ram
            ? BinaryPrimitives.ReadUInt32LittleEndian(Ram.AsSpan((int)address))
            : Read(address, 4);

    private sealed record Region(uint Base, uint Length, PageKind Kind, byte[]? Rom, IMmioDevice? Device);
}
