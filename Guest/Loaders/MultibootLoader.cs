using System.Buffers.Binary;
using System.Text;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Loaders;

/// <summary>
/// Loads a Multiboot v1 kernel the way QEMU's -kernel does: finds the header in the first 8 KiB,
/// places the image (ELF32 program headers, or the header's address fields when flags bit 16 is
/// set), copies the modules after it, builds the information structure and returns the state the
/// specification prescribes (flat protected mode, EAX = 0x2BADB002, EBX = info, IF clear).
/// </summary>
public static partial class MultibootLoader
{
    public const uint HeaderMagic = 0x1BADB002;
    public const uint BootloaderMagic = 0x2BADB002;
    public const int HeaderSearchLength = 8192;

    private const uint FlagPageAlignModules = 1u << 0;
    private const uint FlagMemoryInfo = 1u << 1;
    private const uint FlagVideoMode = 1u << 2;
    private const uint FlagAoutKludge = 1u << 16;
    /// <summary>Bits 0-15 are requirements: a loader must refuse an image asking for one it lacks.</summary>
    private const uint SupportedRequirements = FlagPageAlignModules | FlagMemoryInfo | FlagVideoMode;

    /// <summary>Loads <paramref name="image"/> (named <paramref name="name"/> in error messages) into <paramref name="memory"/>.</summary>
    /// <exception cref="ImageLoadException">The image is not a usable Multiboot kernel, or does not fit.</exception>
    public static MultibootBoot Load(PhysicalMemory memory, ReadOnlySpan<byte> image, string name, MultibootOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        options ??= new MultibootOptions();
        if ((ulong)image.Length > memory.RamSize)
            throw new ImageLoadException(name, null, "file size",
                $"the file is {image.Length} bytes, larger than the guest's RAM ({memory.RamSize} bytes)");

        int headerOffset = FindHeader(image, name);
        uint flags = ReadU32(image, headerOffset + 4);
        uint unsupported = flags & 0xFFFF & ~SupportedRequirements;
        if (unsupported != 0)
            throw new ImageLoadException(name, headerOffset + 4, "multiboot flags",
                $"requires feature bit {System.Numerics.BitOperations.TrailingZeroCount(unsupported)}, which this loader does not provide");

        var segments = new List<Segment>();
        uint entry;
        MultibootFormat format;
        if ((flags & FlagAoutKludge) != 0)
        {
            format = MultibootFormat.AoutKludge;
            entry = PlanKludge(image, name, headerOffset, memory.RamSize, segments);
        }
        else
        {
            format = MultibootFormat.Elf;
            entry = PlanElf(image, name, memory.RamSize, segments);
        }

        // Everything is validated before the first byte is written.
        uint imageStart = uint.MaxValue, imageEnd = 0;
        foreach (var s in segments)
        {
            imageStart = Math.Min(imageStart, s.Address);
            imageEnd = Math.Max(imageEnd, s.Address + s.MemorySize);
        }
        var modules = PlaceModules(options.Modules, name, imageEnd, memory.RamSize);
        var info = new InfoBuilder(memory.RamSize, options, modules);
        uint infoAddress = PlaceInfo(info.Size, segments, modules, imageEnd, memory.RamSize, name);

        foreach (var s in segments)
        {
            memory.Load(s.Address, image.Slice(s.FileOffset, (int)s.FileSize));
            uint bss = s.MemorySize - s.FileSize;
            if (bss > 0)
            {
                memory.Ram.AsSpan((int)(s.Address + s.FileSize), (int)bss).Clear();
                memory.NotifyWritten(s.Address + s.FileSize, bss);
            }
        }
        for (int i = 0; i < modules.Count; i++)
            memory.Load(modules[i].Start, options.Modules[i].Data);
        memory.Load(infoAddress, info.Build(infoAddress));

        var state = new BootState
        {
            Mode = BootMode.FlatProtected,
            Eip = entry,
            Eax = BootloaderMagic,
            Ebx = infoAddress,
        };
        return new MultibootBoot(state, format, imageStart, imageEnd, entry, infoAddress, modules);
    }

    private readonly record struct Segment(uint Address, int FileOffset, uint FileSize, uint MemorySize);

    private static int FindHeader(ReadOnlySpan<byte> image, string name)
    {
        int limit = Math.Min(image.Length, HeaderSearchLength);
        int badChecksumAt = -1;
        for (int off = 0; off + 12 <= limit; off += 4)
        {
            if (ReadU32(image, off) != HeaderMagic) continue;
            uint sum = HeaderMagic + ReadU32(image, off + 4) + ReadU32(image, off + 8);
            if (sum == 0) return off;
            if (badChecksumAt < 0) badChecksumAt = off;
        }
        if (badChecksumAt >= 0)
            throw new ImageLoadException(name, badChecksumAt + 8, "multiboot checksum",
                "magic + flags + checksum is not 0 (corrupt header)");
        throw new ImageLoadException(name, null, "multiboot header",
            $"not a Multiboot image: no header (magic 0x{HeaderMagic:X8}, 4-byte aligned) in the first {HeaderSearchLength} bytes");
    }

    /// <summary>The a.out kludge: the header says where its own magic goes and what surrounds it.</summary>
    private static uint PlanKludge(ReadOnlySpan<byte> image, string name, int headerOffset, uint ramSize, List<Segment> segments)
    {
        if (headerOffset + 32 > image.Length)
            throw new ImageLoadException(name, headerOffset + 12, "multiboot address fields",
                $"flags bit 16 needs 20 bytes of address fields after the header, but the file ends at 0x{image.Length:X}");
        uint headerAddr = ReadU32(image, headerOffset + 12);
        uint loadAddr = ReadU32(image, headerOffset + 16);
        uint loadEndAddr = ReadU32(image, headerOffset + 20);
        uint bssEndAddr = ReadU32(image, headerOffset + 24);
        uint entryAddr = ReadU32(image, headerOffset + 28);

        if (loadAddr > headerAddr)
            throw new ImageLoadException(name, headerOffset + 16, "load_addr",
                $"0x{loadAddr:X8} is above header_addr 0x{headerAddr:X8}");
        long fileStart = headerOffset - (long)(headerAddr - loadAddr);
        if (fileStart < 0)
            throw new ImageLoadException(name, headerOffset + 16, "load_addr",
                $"0x{loadAddr:X8} would start {-fileStart} bytes before the beginning of the file");
        ulong loadEnd = loadEndAddr == 0 ? loadAddr + (ulong)(image.Length - fileStart) : loadEndAddr;
        if (loadEnd <= headerAddr)
            throw new ImageLoadException(name, headerOffset + 20, "load_end_addr",
                $"0x{loadEndAddr:X8} does not lie above header_addr 0x{headerAddr:X8}");
        ulong fileSize = loadEnd - loadAddr;
        if (fileStart + (long)fileSize > image.Length)
            throw new ImageLoadException(name, headerOffset + 20, "load_end_addr",
                $"truncated: the text and data end at file offset 0x{fileStart + (long)fileSize:X}, but the file has only 0x{image.Length:X} bytes");
        ulong bssEnd = bssEndAddr == 0 ? loadEnd : bssEndAddr;
        if (bssEnd < loadEnd)
            throw new ImageLoadException(name, headerOffset + 24, "bss_end_addr",
                $"0x{bssEndAddr:X8} lies below load_end_addr 0x{loadEnd:X8}");
        if (bssEnd > ramSize)
            throw new ImageLoadException(name, headerOffset + (bssEndAddr == 0 ? 20 : 24), bssEndAddr == 0 ? "load_end_addr" : "bss_end_addr",
                $"the image [0x{loadAddr:X8}, 0x{bssEnd:X8}) lies outside RAM (0x{ramSize:X8} bytes)");
        if (entryAddr < loadAddr || entryAddr >= bssEnd)
            throw new ImageLoadException(name, headerOffset + 28, "entry_addr",
                $"0x{entryAddr:X8} lies outside the image [0x{loadAddr:X8}, 0x{bssEnd:X8})");
        segments.Add(new Segment(loadAddr, (int)fileStart, (uint)fileSize, (uint)(bssEnd - loadAddr)));
        return entryAddr;
    }

    private static IReadOnlyList<LoadedModule> PlaceModules(IReadOnlyList<MultibootModule> modules, string name, uint imageEnd, uint ramSize)
    {
        var placed = new List<LoadedModule>(modules.Count);
        ulong next = AlignUp(imageEnd, PhysicalMemory.PageSize);
        for (int i = 0; i < modules.Count; i++)
        {
            var m = modules[i];
            ulong end = next + (ulong)m.Data.Length;
            if (end > ramSize)
                throw new ImageLoadException(m.Name, null, $"module {i}",
                    $"{m.Data.Length} bytes do not fit in RAM after {name} (they would end at 0x{end:X}, RAM ends at 0x{ramSize:X8})");
            placed.Add(new LoadedModule((uint)next, (uint)end, m.CommandLine));
            next = AlignUp(end, PhysicalMemory.PageSize);
        }
        return placed;
    }

    /// <summary>
    /// Conventional memory at 64 KiB, as GRUB legacy does, so a kernel that uses the memory above
    /// its image as a heap does not trample its boot information; after the image and modules if
    /// the image or a module occupies that area.
    /// </summary>
    private static uint PlaceInfo(uint size, List<Segment> segments, IReadOnlyList<LoadedModule> modules, uint imageEnd, uint ramSize, string name)
    {
        const uint low = 0x10000, lowLimit = InfoBuilder.ConventionalTop;
        bool lowFree = low + size <= lowLimit;
        foreach (var s in segments)
            if (s.Address < low + size && low < s.Address + s.MemorySize) lowFree = false;
        // Modules follow the image, so after an image that ends below 64 KiB one may cover it too.
        foreach (var m in modules)
            if (m.Start < low + size && low < m.End) lowFree = false;
        if (lowFree) return low;

        ulong after = AlignUp(modules.Count > 0 ? modules[^1].End : imageEnd, 16);
        if (after + size > ramSize)
            throw new ImageLoadException(name, null, "multiboot information",
                $"no room for the {size}-byte information structure: the image covers 0x{low:X}, and RAM ends right after the image");
        return (uint)after;
    }

    private static ulong AlignUp(ulong value, uint alignment) => (value + alignment - 1) & ~(ulong)(alignment - 1);

    internal static uint ReadU32(ReadOnlySpan<byte> data, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
    internal static ushort ReadU16(ReadOnlySpan<byte> data, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(data[offset..]);

    /// <summary>Lays out the information structure, its memory map and its strings in one block.</summary>
    private sealed class InfoBuilder
    {
        /// <summary>Conventional memory ends where the extended BIOS data area starts (639 KiB).</summary>
        public const uint ConventionalTop = 0x9FC00;
        private const uint ExtendedStart = 0x100000;
        private const int InfoSize = 120;   // through the framebuffer fields of spec 0.6.96
        private const int MmapEntrySize = 24;
        private const int ModuleEntrySize = 16;

        private readonly uint _ramSize;
        private readonly IReadOnlyList<LoadedModule> _modules;
        private readonly byte[] _commandLine, _loaderName;
        private readonly byte[][] _moduleStrings;
        private readonly List<(ulong Base, ulong Length, uint Type)> _mmap = [];

        public uint Size { get; }

        public InfoBuilder(uint ramSize, MultibootOptions options, IReadOnlyList<LoadedModule> modules)
        {
            _ramSize = ramSize;
            _modules = modules;
            _commandLine = CString(options.CommandLine);
            _loaderName = CString(options.BootLoaderName);
            _moduleStrings = modules.Select(m => CString(m.CommandLine)).ToArray();
            // What QEMU's BIOS reports for a PC: low RAM, the EBDA, the hole for VGA and ROMs, then extended RAM.
            _mmap.Add((0, ConventionalTop, 1));
            _mmap.Add((ConventionalTop, 0xA0000 - ConventionalTop, 2));
            if (ramSize > ExtendedStart) _mmap.Add((ExtendedStart, ramSize - ExtendedStart, 1));
            Size = (uint)(InfoSize + _mmap.Count * MmapEntrySize + modules.Count * ModuleEntrySize
                          + _commandLine.Length + _loaderName.Length + _moduleStrings.Sum(s => s.Length));
        }

        private static byte[] CString(string s)
        {
            var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
            Encoding.UTF8.GetBytes(s, bytes);
            return bytes;
        }

        public byte[] Build(uint at)
        {
            var block = new byte[Size];
            var span = block.AsSpan();
            uint mmapAt = at + InfoSize;
            uint modsAt = mmapAt + (uint)(_mmap.Count * MmapEntrySize);
            uint stringsAt = modsAt + (uint)(_modules.Count * ModuleEntrySize);

            int p = (int)(stringsAt - at);
            uint Put(byte[] s)
            {
                s.CopyTo(block, p);
                uint addr = at + (uint)p;
                p += s.Length;
                return addr;
            }
            uint cmdline = Put(_commandLine);
            uint loaderName = Put(_loaderName);

            const uint flags = (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9);
            W32(span, 0, flags);
            W32(span, 4, ConventionalTop / 1024);                                          // mem_lower (KiB)
            W32(span, 8, _ramSize > ExtendedStart ? (_ramSize - ExtendedStart) / 1024 : 0);   // mem_upper (KiB)
            W32(span, 16, cmdline);
            W32(span, 20, (uint)_modules.Count);
            W32(span, 24, modsAt);
            W32(span, 44, (uint)(_mmap.Count * MmapEntrySize));
            W32(span, 48, mmapAt);
            W32(span, 64, loaderName);

            int e = (int)(mmapAt - at);
            foreach (var (b, len, type) in _mmap)
            {
                W32(span, e, MmapEntrySize - 4);   // size excludes the size field itself
                BinaryPrimitives.WriteUInt64LittleEndian(span[(e + 4)..], b);
                BinaryPrimitives.WriteUInt64LittleEndian(span[(e + 12)..], len);
                W32(span, e + 20, type);
                e += MmapEntrySize;
            }
            int m = (int)(modsAt - at);
            for (int i = 0; i < _modules.Count; i++, m += ModuleEntrySize)
            {
                W32(span, m, _modules[i].Start);
                W32(span, m + 4, _modules[i].End);
                W32(span, m + 8, Put(_moduleStrings[i]));
            }
            return block;
        }

        private static void W32(Span<byte> s, int offset, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[offset..], v);
    }
}
