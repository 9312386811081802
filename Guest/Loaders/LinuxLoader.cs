using System.Buffers.Binary;
using System.Text;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Loaders;

/// <summary>
/// Loads a Linux bzImage by the x86 boot protocol (the kernel's Documentation/arch/x86/boot.rst),
/// 2.02 or newer, as QEMU's -kernel does, but entering by the 32-bit boot protocol since there is
/// no BIOS to run the real-mode setup code on: the protected-mode kernel goes to 1 MiB, the zero
/// page (<c>boot_params</c>) gets a copy of the setup header, the command line, the initrd (as high
/// as fits below <c>initrd_addr_max</c> and the top of RAM) and an e820 map, and the CPU starts at
/// <c>code32_start</c> in flat protected mode with the boot GDT's selectors (__BOOT_CS 0x10,
/// __BOOT_DS 0x18) loaded, interrupts off, ESI = the zero page and EBP = EDI = EBX = 0.
/// </summary>
public static class LinuxLoader
{
    /// <summary>"HdrS" at offset 0x202: the setup header of protocol 2.00 and later.</summary>
    public const uint HeaderMagic = 0x5372_6448;
    public const ushort MinimumProtocol = 0x0202;

    /// <summary>Where the protected-mode kernel goes (bzImage: LOADED_HIGH).</summary>
    public const uint KernelAddress = 0x100000;
    /// <summary>The zero page; the boot GDT follows it, the command line is at 0x20000 (as QEMU places it).</summary>
    public const uint ZeroPageAddress = 0x10000;
    public const uint GdtAddress = 0x11000;
    public const uint CommandLineAddress = 0x20000;
    public const ushort BootCodeSelector = 0x10, BootDataSelector = 0x18;
    /// <summary>type_of_loader: 0xFF, "undefined" (no boot loader ID assigned).</summary>
    public const byte LoaderType = 0xFF;

    /// <summary>Conventional memory ends where the extended BIOS data area starts (639 KiB).</summary>
    public const uint ConventionalTop = 0x9FC00;
    public const uint BiosAreaStart = 0xF0000;

    // Setup header fields: offsets in the file, and in the zero page (the header sits at 0x1F1 in both).
    internal const int SetupSectsOffset = 0x1F1, SyssizeOffset = 0x1F4, BootFlagOffset = 0x1FE, JumpOffset = 0x200,
        HeaderOffset = 0x202, VersionOffset = 0x206, KernelVersionOffset = 0x20E, TypeOfLoaderOffset = 0x210,
        LoadFlagsOffset = 0x211, Code32StartOffset = 0x214, RamdiskImageOffset = 0x218, RamdiskSizeOffset = 0x21C,
        HeapEndPtrOffset = 0x224, CmdLinePtrOffset = 0x228, InitrdAddrMaxOffset = 0x22C, KernelAlignmentOffset = 0x230,
        RelocatableOffset = 0x234, XLoadFlagsOffset = 0x236, CmdlineSizeOffset = 0x238, HardwareSubarchOffset = 0x23C,
        PrefAddressOffset = 0x258, InitSizeOffset = 0x260;

    // Zero page fields outside the setup header (arch/x86/include/uapi/asm/bootparam.h).
    internal const int ExtMemKOffset = 0x002, OrigVideoLinesOffset = 0x00E, OrigVideoIsVgaOffset = 0x00F,
        AltMemKOffset = 0x1E0, E820EntriesOffset = 0x1E8, SentinelOffset = 0x1EF, E820TableOffset = 0x2D0, E820EntrySize = 20;

    internal const byte LoadedHigh = 0x01, CanUseHeap = 0x80;
    internal const ushort XlfKernel64 = 0x01;
    /// <summary>heap_end_ptr as a real-mode setup would have it (its heap ends at 0xDE00 + 0x200 past the setup code).</summary>
    internal const ushort HeapEnd = 0xDE00;

    /// <summary>True when <paramref name="image"/> has a Linux setup header ("HdrS" at 0x202): this loader then applies, or refuses it.</summary>
    public static bool IsLinuxImage(ReadOnlySpan<byte> image) =>
        image.Length >= HeaderOffset + 4 && BinaryPrimitives.ReadUInt32LittleEndian(image[HeaderOffset..]) == HeaderMagic;

    /// <summary>Loads the bzImage <paramref name="image"/> (named <paramref name="name"/> in error messages) into <paramref name="memory"/>.</summary>
    /// <exception cref="ImageLoadException">The image is not a bzImage this loader can start, or it or its initrd does not fit.</exception>
    public static LinuxBoot Load(PhysicalMemory memory, ReadOnlySpan<byte> image, string name, LinuxBootOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        options ??= new LinuxBootOptions();
        var plan = Plan(image, name, memory.RamSize, options);

        // Everything is validated before the first byte is written.
        memory.Load(KernelAddress, image.Slice(plan.SetupSize, (int)plan.KernelSize));
        memory.Load(ZeroPageAddress, BuildZeroPage(image, plan, memory.RamSize));
        memory.Load(GdtAddress, BootGdt());
        memory.Load(CommandLineAddress, plan.CommandLine);
        if (options.Initrd is { } initrd) memory.Load(plan.InitrdStart, initrd);

        var state = new BootState
        {
            Mode = BootMode.FlatProtected,
            Eip = plan.Entry,
            Esi = ZeroPageAddress,
            // Any stack will do: the kernel's first instructions use the zero page's scratch field.
            Esp = ZeroPageAddress,
            GdtBase = GdtAddress,
            GdtLimit = 4 * 8 - 1,
            FlatCodeSelector = BootCodeSelector,
            FlatDataSelector = BootDataSelector,
        };
        return new LinuxBoot(state, plan.Version, plan.KernelVersion, KernelAddress, KernelAddress + plan.KernelSize,
            plan.DecompressionEnd, ZeroPageAddress, CommandLineAddress, plan.InitrdStart, plan.InitrdSize);
    }

    private sealed record LoadPlan(
        ushort Version, int SetupSize, uint KernelSize, uint Entry, uint DecompressionEnd, byte[] CommandLine,
        uint InitrdStart, uint InitrdSize, string KernelVersion, int HeaderEnd);

    private static LoadPlan Plan(ReadOnlySpan<byte> image, string name, uint ramSize, LinuxBootOptions options)
    {
        if (!IsLinuxImage(image))
            throw new ImageLoadException(name, HeaderOffset, "setup header", "not a Linux bzImage: no \"HdrS\" magic at offset 0x202");
        if (image.Length < 1024)
            throw new ImageLoadException(name, null, "file size", $"truncated: {image.Length} bytes cannot hold a boot sector and a setup header");
        ushort bootFlag = U16(image, BootFlagOffset);
        if (bootFlag != 0xAA55)
            throw new ImageLoadException(name, BootFlagOffset, "boot_flag", $"0x{bootFlag:X4} is not 0xAA55: not a Linux bzImage");
        ushort version = U16(image, VersionOffset);
        if (version < MinimumProtocol)
            throw new ImageLoadException(name, VersionOffset, "version",
                $"boot protocol {version >> 8}.{version & 0xFF:D2} is older than {MinimumProtocol >> 8}.{MinimumProtocol & 0xFF:D2}, the oldest this loader starts");
        byte loadFlags = image[LoadFlagsOffset];
        if ((loadFlags & LoadedHigh) == 0)
            throw new ImageLoadException(name, LoadFlagsOffset, "loadflags",
                "LOADED_HIGH is clear: a zImage (protected-mode kernel at 0x10000); only bzImage kernels load");
        if (version >= 0x020C && (U16(image, XLoadFlagsOffset) & XlfKernel64) != 0)
            throw new ImageLoadException(name, XLoadFlagsOffset, "xloadflags",
                "XLF_KERNEL_64 is set: a 64-bit kernel, and this machine is a 32-bit (i686) processor");

        int headerEnd = HeaderOffset + image[JumpOffset + 1];   // the jump at 0x200 skips the header
        int setupSects = image[SetupSectsOffset] == 0 ? 4 : image[SetupSectsOffset];
        int setupSize = (setupSects + 1) * 512;
        if (setupSize >= image.Length)
            throw new ImageLoadException(name, SetupSectsOffset, "setup_sects",
                $"truncated: {setupSects} setup sectors end at 0x{setupSize:X}, and the file has 0x{image.Length:X} bytes: no protected-mode kernel follows");
        // syssize counts 16-byte paragraphs; what follows them (a signature, padding) is not kernel.
        ulong syssize = (ulong)U32(image, SyssizeOffset) * 16;
        ulong available = (ulong)(image.Length - setupSize);
        if (syssize > available)
            throw new ImageLoadException(name, SyssizeOffset, "syssize",
                $"truncated: the protected-mode kernel is 0x{syssize:X} bytes, but only 0x{available:X} follow the setup code");
        uint kernelSize = (uint)(syssize == 0 ? available : syssize);
        if ((ulong)KernelAddress + kernelSize > ramSize)
            throw new ImageLoadException(name, SyssizeOffset, "syssize",
                $"the kernel does not fit: {kernelSize} bytes at 1 MiB end at 0x{(ulong)KernelAddress + kernelSize:X}, past the guest's RAM (0x{ramSize:X8} bytes)");

        uint entry = U32(image, Code32StartOffset);
        if (entry - KernelAddress >= kernelSize)
            throw new ImageLoadException(name, Code32StartOffset, "code32_start",
                $"0x{entry:X8} lies outside the protected-mode kernel [0x{KernelAddress:X8}, 0x{KernelAddress + kernelSize:X8})");

        // The kernel decompresses itself: a relocatable one at its load address rounded up to
        // kernel_alignment, but never below LOAD_PHYSICAL_ADDR (pref_address), and it needs
        // init_size bytes from there.
        ulong decompressionEnd = KernelAddress + (ulong)kernelSize;
        if (version >= 0x020A)
        {
            ulong preferred = U64(image, PrefAddressOffset);
            uint alignment = U32(image, KernelAlignmentOffset);
            ulong start = preferred;
            if (image[RelocatableOffset] != 0 && alignment != 0 && System.Numerics.BitOperations.IsPow2(alignment))
                start = Math.Max(preferred, (KernelAddress + (ulong)alignment - 1) & ~((ulong)alignment - 1));
            uint initSize = U32(image, InitSizeOffset);
            // Wide: a pref_address near 2^64 plus init_size must not wrap round to a small end that fits.
            UInt128 end = (UInt128)start + initSize;
            if (end > ramSize)
                throw new ImageLoadException(name, InitSizeOffset, "init_size",
                    $"the kernel does not fit: it decompresses into memory up to 0x{end:X} (pref_address 0x{preferred:X}, init_size 0x{initSize:X}), past the guest's RAM (0x{ramSize:X8} bytes)");
            decompressionEnd = Math.Max(decompressionEnd, (ulong)end);
        }

        uint cmdlineSize = version >= 0x0206 ? U32(image, CmdlineSizeOffset) : 255;
        byte[] commandLine = Encoding.UTF8.GetBytes(options.CommandLine + "\0");
        if ((uint)(commandLine.Length - 1) > cmdlineSize)
            throw new ImageLoadException(name, version >= 0x0206 ? CmdlineSizeOffset : null, "cmdline_size",
                $"the command line is {commandLine.Length - 1} bytes, and this kernel takes at most {cmdlineSize}");
        if ((ulong)CommandLineAddress + (ulong)commandLine.Length > ConventionalTop)
            throw new ImageLoadException(name, null, "command line", $"the command line is {commandLine.Length - 1} bytes, too long for conventional memory");

        uint initrdStart = 0, initrdSize = 0;
        if (options.Initrd is { } initrd)
        {
            if (initrd.Length == 0)
                throw new ImageLoadException(options.InitrdName, null, "initrd", "the file is empty");
            // Before 2.03 the header has no initrd_addr_max: the limit was 0x37FFFFFF.
            ulong limit = (version >= 0x0203 ? U32(image, InitrdAddrMaxOffset) : 0x37FF_FFFFu) + 1UL;
            ulong top = Math.Min(limit, ramSize);
            ulong floor = (decompressionEnd + PhysicalMemory.PageSize - 1) & ~(ulong)(PhysicalMemory.PageSize - 1);
            if ((ulong)initrd.Length > top || ((top - (ulong)initrd.Length) & ~(ulong)(PhysicalMemory.PageSize - 1)) < floor)
                throw new ImageLoadException(options.InitrdName, null, "initrd",
                    $"{initrd.Length} bytes do not fit between the kernel (up to 0x{floor:X}) and 0x{top:X} ({(top == ramSize ? "the top of RAM" : "the kernel's initrd_addr_max")})");
            initrdStart = (uint)((top - (ulong)initrd.Length) & ~(ulong)(PhysicalMemory.PageSize - 1));
            initrdSize = (uint)initrd.Length;
        }

        return new LoadPlan(version, setupSize, kernelSize, entry, (uint)Math.Min(decompressionEnd, uint.MaxValue), commandLine,
            initrdStart, initrdSize, KernelVersionString(image), Math.Min(headerEnd, setupSize));
    }

    /// <summary>The zero page: the setup header as in the file with the loader's fields filled in, memory sizes and the e820 map.</summary>
    private static byte[] BuildZeroPage(ReadOnlySpan<byte> image, LoadPlan plan, uint ramSize)
    {
        var page = new byte[PhysicalMemory.PageSize];
        var span = page.AsSpan();
        image[SetupSectsOffset..plan.HeaderEnd].CopyTo(span[SetupSectsOffset..]);

        // screen_info stays zero: no video (orig_video_isVGA 0, no lines or columns), so the kernel
        // falls back to its dummy console; ext_mem_k / alt_mem_k say how much RAM lies above 1 MiB.
        uint extendedKiB = ramSize > KernelAddress ? (ramSize - KernelAddress) / 1024 : 0;
        W16(span, ExtMemKOffset, (ushort)Math.Min(extendedKiB, 0xFFFFu));
        W32(span, AltMemKOffset, extendedKiB);

        span[TypeOfLoaderOffset] = LoaderType;
        span[LoadFlagsOffset] = (byte)(image[LoadFlagsOffset] | CanUseHeap);
        W32(span, RamdiskImageOffset, plan.InitrdStart);
        W32(span, RamdiskSizeOffset, plan.InitrdSize);
        W16(span, HeapEndPtrOffset, HeapEnd);
        W32(span, CmdLinePtrOffset, CommandLineAddress);
        if (plan.Version >= 0x0207) W32(span, HardwareSubarchOffset, 0);   // X86_SUBARCH_PC

        var e820 = E820Map(ramSize);
        for (int i = 0; i < e820.Length; i++)
        {
            var entry = span[(E820TableOffset + i * E820EntrySize)..];
            BinaryPrimitives.WriteUInt64LittleEndian(entry, e820[i].Base);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], e820[i].Length);
            W32(entry, 16, e820[i].Type);
        }
        span[E820EntriesOffset] = (byte)e820.Length;
        return page;
    }

    /// <summary>
    /// The machine's physical memory as a PC BIOS reports it (type 1 usable, 2 reserved): low RAM,
    /// the EBDA at its top, the BIOS area below 1 MiB, then extended RAM. The VGA and option-ROM
    /// hole between them is not RAM.
    /// </summary>
    public static (ulong Base, ulong Length, uint Type)[] E820Map(uint ramSize) =>
        ramSize > KernelAddress
            ? [(0, ConventionalTop, 1), (ConventionalTop, 0xA0000 - ConventionalTop, 2), (BiosAreaStart, KernelAddress - BiosAreaStart, 2), (KernelAddress, ramSize - KernelAddress, 1)]
            : [(0, ConventionalTop, 1), (ConventionalTop, 0xA0000 - ConventionalTop, 2), (BiosAreaStart, KernelAddress - BiosAreaStart, 2)];

    /// <summary>The boot GDT: null, null, then flat 4 GiB ring-0 code (0x10) and data (0x18), as the 32-bit protocol names them.</summary>
    private static byte[] BootGdt()
    {
        var gdt = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(gdt.AsSpan(16), 0x00CF_9B00_0000_FFFFUL);   // code: base 0, limit 4 GiB, execute/read, accessed
        BinaryPrimitives.WriteUInt64LittleEndian(gdt.AsSpan(24), 0x00CF_9300_0000_FFFFUL);   // data: base 0, limit 4 GiB, read/write, accessed
        return gdt;
    }

    /// <summary>The string kernel_version points at (offset + 0x200 in the file), or "" when there is none.</summary>
    private static string KernelVersionString(ReadOnlySpan<byte> image)
    {
        ushort pointer = U16(image, KernelVersionOffset);
        if (pointer == 0) return "";
        int at = pointer + 0x200;
        if (at >= image.Length) return "";
        var rest = image[at..Math.Min(image.Length, at + 256)];
        int end = rest.IndexOf((byte)0);
        if (end < 0) return "";
        var text = Encoding.ASCII.GetString(rest[..end]);
        foreach (char c in text) if (c is < ' ' or > '~') return "";
        return text;
    }

    private static ushort U16(ReadOnlySpan<byte> d, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(d[offset..]);
    private static uint U32(ReadOnlySpan<byte> d, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(d[offset..]);
    private static ulong U64(ReadOnlySpan<byte> d, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(d[offset..]);
    private static void W16(Span<byte> s, int offset, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(s[offset..], v);
    private static void W32(Span<byte> s, int offset, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[offset..], v);
}
