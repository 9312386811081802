using System.Buffers.Binary;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Guest.Memory;
using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Loaders;

/// <summary>The Linux boot protocol on synthetic bzImages: every field the loader reads or writes, and every refusal.</summary>
public class LinuxLoaderTests
{
    private const uint Ram = 64u << 20;

    private static (PhysicalMemory Memory, LinuxBoot Boot) Load(SyntheticBzImage image, LinuxBootOptions? options = null, uint ram = Ram)
    {
        var memory = new PhysicalMemory(ram);
        return (memory, LinuxLoader.Load(memory, image.Build(), "bzImage", options));
    }

    private static ImageLoadException Fails(SyntheticBzImage image, LinuxBootOptions? options = null, uint ram = Ram, string name = "bzImage") =>
        Fails(image.Build(), options, ram, name);

    private static ImageLoadException Fails(byte[] image, LinuxBootOptions? options = null, uint ram = Ram, string name = "bzImage")
    {
        var memory = new PhysicalMemory(ram);
        var e = Assert.Throws<ImageLoadException>(() => LinuxLoader.Load(memory, image, "bzImage", options));
        Assert.StartsWith(name + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(memory.Ram.AsSpan().IndexOfAnyExcept((byte)0) < 0, "the loader wrote to memory before it refused");
        return e;
    }

    private static uint ZeroPage32(PhysicalMemory m, int offset) => m.ReadUInt32(LinuxLoader.ZeroPageAddress + (uint)offset);
    private static ushort ZeroPage16(PhysicalMemory m, int offset) => (ushort)m.Read(LinuxLoader.ZeroPageAddress + (uint)offset, 2);
    private static byte ZeroPage8(PhysicalMemory m, int offset) => m.ReadByte(LinuxLoader.ZeroPageAddress + (uint)offset);

    [Fact]
    public void TheProtectedModeKernelGoesTo1MiBAndNothingPastSyssize()
    {
        var image = new SyntheticBzImage { KernelBytes = 0x2345, Trailer = 0x600 };
        var (m, boot) = Load(image);
        for (int i = 0; i < image.KernelBytes; i++)
            Assert.Equal(SyntheticBzImage.KernelByte(i), m.ReadByte(0x100000 + (uint)i));
        // syssize rounds up to 16 bytes; the signature after it is not loaded.
        uint paragraphs = (uint)(image.KernelBytes + 15) / 16 * 16;
        Assert.Equal(0x100000u + paragraphs, boot.KernelEnd);
        Assert.Equal(0, m.ReadByte(0x100000 + paragraphs + 1));
        Assert.Equal(0x100000u, boot.KernelStart);
    }

    [Fact]
    public void SetupSectsZeroMeansFour()
    {
        var image = new SyntheticBzImage { SetupSects = 0 };
        var (m, _) = Load(image);
        Assert.Equal(5 * 512, image.SetupSize);
        Assert.Equal(SyntheticBzImage.KernelByte(0), m.ReadByte(0x100000));
        Assert.Equal(SyntheticBzImage.KernelByte(100), m.ReadByte(0x100000 + 100));
    }

    [Fact]
    public void TheZeroPageHoldsTheSetupHeaderUpToItsEnd()
    {
        var image = new SyntheticBzImage();
        var file = image.Build();
        var (m, boot) = Load(image);
        Assert.Equal(LinuxLoader.ZeroPageAddress, boot.ZeroPage);
        int end = 0x202 + image.HeaderLength;
        // Fields the loader fills in differ from the file; every other header byte is the file's.
        var filled = new HashSet<int>();
        foreach (var (offset, size) in new[] { (0x210, 2), (0x218, 8), (0x224, 2), (0x228, 4), (0x23C, 4) })
            for (int i = 0; i < size; i++) filled.Add(offset + i);
        for (int o = 0x1F1; o < end; o++)
            if (!filled.Contains(o)) Assert.True(file[o] == ZeroPage8(m, o), $"zero page byte 0x{o:X} is 0x{ZeroPage8(m, o):X2}, the file has 0x{file[o]:X2}");
        Assert.Equal(0xCC, file[end]);
        Assert.Equal(0, ZeroPage8(m, end));       // past the header: not copied
        Assert.Equal(0, ZeroPage8(m, 0x1EF));     // the sentinel stays zero: the loader built the page from scratch
        Assert.Equal("HdrS"u8.ToArray(), Enumerable.Range(0x202, 4).Select(o => ZeroPage8(m, o)).ToArray());
    }

    [Fact]
    public void TheLoaderFieldsAreFilledIn()
    {
        var (m, _) = Load(new SyntheticBzImage(), new LinuxBootOptions { CommandLine = "console=ttyS0" });
        Assert.Equal(0xFF, ZeroPage8(m, 0x210));                   // type_of_loader: undefined
        Assert.Equal(0x81, ZeroPage8(m, 0x211));                   // loadflags: LOADED_HIGH | CAN_USE_HEAP
        Assert.Equal(0xDE00, ZeroPage16(m, 0x224));                // heap_end_ptr
        Assert.Equal(LinuxLoader.CommandLineAddress, ZeroPage32(m, 0x228));
        Assert.Equal(0u, ZeroPage32(m, 0x23C));                    // hardware_subarch: PC
        Assert.Equal(0u, ZeroPage32(m, 0x218));                    // no initrd
        Assert.Equal(0u, ZeroPage32(m, 0x21C));
        var line = m.Ram.AsSpan((int)LinuxLoader.CommandLineAddress, 14).ToArray();
        Assert.Equal("console=ttyS0\0"u8.ToArray(), line);
    }

    [Fact]
    public void ScreenInfoSaysThereIsNoVideo()
    {
        var (m, _) = Load(new SyntheticBzImage());
        for (int o = 0; o < 0x40; o++)
            if (o is not (2 or 3)) Assert.Equal(0, ZeroPage8(m, o));   // orig_video_isVGA, lines, columns, mode: 0
        Assert.Equal((ushort)((Ram - 0x100000) / 1024), ZeroPage16(m, 2));   // ext_mem_k
        Assert.Equal((Ram - 0x100000) / 1024, ZeroPage32(m, 0x1E0));         // alt_mem_k
    }

    [Fact]
    public void TheE820MapMatchesTheMachine()
    {
        var (m, _) = Load(new SyntheticBzImage());
        Assert.Equal(4, ZeroPage8(m, 0x1E8));
        var expected = new (ulong Base, ulong Length, uint Type)[]
        {
            (0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2), (0x100000, Ram - 0x100000, 1),
        };
        for (int i = 0; i < expected.Length; i++)
        {
            var e = m.Ram.AsSpan((int)LinuxLoader.ZeroPageAddress + 0x2D0 + i * 20, 20);
            Assert.Equal(expected[i], (BinaryPrimitives.ReadUInt64LittleEndian(e), BinaryPrimitives.ReadUInt64LittleEndian(e[8..]), BinaryPrimitives.ReadUInt32LittleEndian(e[16..])));
        }
    }

    [Fact]
    public void TheInitrdGoesAsHighAsFitsPageAligned()
    {
        var initrd = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 13)).ToArray();
        var (m, boot) = Load(new SyntheticBzImage(), new LinuxBootOptions { Initrd = initrd });
        uint expected = (Ram - 10_000) & ~0xFFFu;
        Assert.Equal(expected, boot.InitrdStart);
        Assert.Equal(expected, ZeroPage32(m, 0x218));
        Assert.Equal(10_000u, ZeroPage32(m, 0x21C));
        Assert.Equal(initrd, m.Ram.AsSpan((int)expected, initrd.Length).ToArray());
    }

    [Fact]
    public void TheInitrdStaysBelowInitrdAddrMax()
    {
        var (_, boot) = Load(new SyntheticBzImage { InitrdAddrMax = 0x1FF_FFFF }, new LinuxBootOptions { Initrd = new byte[5000] });
        Assert.Equal((0x200_0000u - 5000) & ~0xFFFu, boot.InitrdStart);
    }

    [Fact]
    public void BeforeProtocol203TheInitrdLimitIs0x37FFFFFF()
    {
        // initrd_addr_max is not read: the field holds garbage an old kernel never defined.
        var (_, small) = Load(new SyntheticBzImage { Version = 0x0202, InitrdAddrMax = 0x1234 }, new LinuxBootOptions { Initrd = new byte[5000] });
        Assert.Equal((Ram - 5000) & ~0xFFFu, small.InitrdStart);
        var (_, boot) = Load(new SyntheticBzImage { Version = 0x0202, InitrdAddrMax = 0x1234 }, new LinuxBootOptions { Initrd = new byte[5000] }, ram: 0x4000_0000);
        Assert.Equal((0x3800_0000u - 5000) & ~0xFFFu, boot.InitrdStart);
    }

    [Fact]
    public void TheCpuStartsAtCode32StartByThe32BitProtocol()
    {
        var (m, boot) = Load(new SyntheticBzImage { Code32Start = 0x100020 });
        var cpu = new Cpu(m, new NullBus());
        cpu.Ebx = cpu.Ebp = cpu.Edi = 0x1234;
        boot.State.ApplyTo(cpu);
        Assert.Equal(0x100020u, cpu.Eip);
        Assert.Equal(LinuxLoader.ZeroPageAddress, cpu.Esi);
        Assert.Equal((0u, 0u, 0u), (cpu.Ebp, cpu.Edi, cpu.Ebx));
        Assert.Equal(0u, cpu.Eflags & 0x200);
        Assert.True(cpu.ProtectedMode);
        Assert.False(cpu.PagingEnabled);
        Assert.Equal((ushort)0x10, cpu.GetSelector(SegmentRegister.CS));
        foreach (var sr in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS, SegmentRegister.FS, SegmentRegister.GS })
            Assert.Equal((ushort)0x18, cpu.GetSelector(sr));
        Assert.Equal((LinuxLoader.GdtAddress, (ushort)31), cpu.Gdtr);
        // The GDT in memory has what the kernel reloads: flat 4 GiB code at 0x10, data at 0x18.
        Assert.Equal(0x00CF_9B00_0000_FFFFUL, BinaryPrimitives.ReadUInt64LittleEndian(m.Ram.AsSpan((int)LinuxLoader.GdtAddress + 0x10)));
        Assert.Equal(0x00CF_9300_0000_FFFFUL, BinaryPrimitives.ReadUInt64LittleEndian(m.Ram.AsSpan((int)LinuxLoader.GdtAddress + 0x18)));
        Assert.True(cpu.A20Enabled);
    }

    [Fact]
    public void AKernelThatReloadsItsSegmentsRunsAndFindsItsCommandLine()
    {
        // mov eax,0x18; mov ds,ax; mov ss,ax; jmp 0x10:next; next: mov eax,[esi+0x228]; mov al,[eax]; out 0xF4,al; hlt
        byte[] code = [0xB8, 0x18, 0, 0, 0, 0x8E, 0xD8, 0x8E, 0xD0, 0xEA, 0x10, 0x00, 0x10, 0x00, 0x10, 0x00,
                       0x8B, 0x86, 0x28, 0x02, 0x00, 0x00, 0x8A, 0x00, 0xE6, 0xF4, 0xF4];
        var image = new SyntheticBzImage { KernelBytes = 64 }.Build();
        code.CopyTo(image, 5 * 512);
        var machine = new PcMachine(new MachineConfiguration { RamSize = Ram });
        var kernel = machine.LoadKernel(image, "bzImage", new KernelOptions { CommandLine = "vmft" });
        Assert.NotNull(kernel.Linux);
        Assert.Equal(MachineExitReason.DebugExit, machine.RunUntil(1000));
        Assert.Equal(('v' << 1) | 1, machine.ExitStatus);
    }

    [Fact]
    public void TheKernelVersionStringIsRead()
    {
        var (_, boot) = Load(new SyntheticBzImage { KernelVersion = "6.1.0-57-686 (debian) #1 SMP" });
        Assert.Equal("6.1.0-57-686 (debian) #1 SMP", boot.KernelVersion);
        Assert.Equal((ushort)0x020F, boot.ProtocolVersion);
    }

    [Fact]
    public void ARelocatableKernelDecompressesAtItsAlignedOrPreferredAddress()
    {
        var (_, boot) = Load(new SyntheticBzImage { PrefAddress = 0x100_0000, KernelAlignment = 0x20_0000, InitSize = 0x80_0000 });
        Assert.Equal(0x180_0000u, boot.DecompressionEnd);
        // Not relocatable: at pref_address whatever the alignment.
        var (_, fixedBoot) = Load(new SyntheticBzImage { Relocatable = 0, PrefAddress = 0x40_0000, KernelAlignment = 0x100_0000, InitSize = 0x80_0000 });
        Assert.Equal(0xC0_0000u, fixedBoot.DecompressionEnd);
        // Before 2.10 there is no init_size: the loaded kernel is all that must fit.
        var (_, old) = Load(new SyntheticBzImage { Version = 0x0209, InitSize = 0x7000_0000 });
        Assert.Equal(old.KernelEnd, old.DecompressionEnd);
    }

    [Fact]
    public void TheBiosAreasAreEmptySoMpAndAcpiScansFindNothing()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = Ram });
        machine.LoadKernel(new SyntheticBzImage().Build(), "bzImage", new KernelOptions { CommandLine = "console=ttyS0", Initrd = new byte[4096] });
        var ram = machine.Memory.Ram.AsSpan();
        Assert.True(ram[0x400..0x500].IndexOfAnyExcept((byte)0) < 0, "the BIOS data area is not empty");
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(ram[0x40E..]));   // no EBDA segment
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(ram[0x413..]));   // no base memory size: Linux assumes 0x9F000
        // Where Linux looks for an MP floating pointer and the ACPI RSDP: the first KiB, the top KiB
        // of conventional memory, and the BIOS area 0xE0000-0xFFFFF.
        foreach (var (start, end) in new[] { (0, 0x400), (0x9FC00, 0xA0000), (0xE0000, 0x100000) })
        {
            Assert.True(ram[start..end].IndexOf("_MP_"u8) < 0);
            Assert.True(ram[start..end].IndexOf("RSD PTR "u8) < 0);
        }
    }

    // ---- refusals ----

    [Fact]
    public void AFileWithoutHdrSIsNotALinuxImage()
    {
        var image = new SyntheticBzImage { Magic = 0x1234_5678 };
        Assert.False(LinuxLoader.IsLinuxImage(image.Build()));
        Assert.Equal("bzImage: offset 0x202 (setup header): not a Linux bzImage: no \"HdrS\" magic at offset 0x202", Fails(image).Message);
        Assert.False(LinuxLoader.IsLinuxImage(new byte[100]));
    }

    [Fact]
    public void ABadBootFlagIsRefused() =>
        Assert.Equal("bzImage: offset 0x1FE (boot_flag): 0x1234 is not 0xAA55: not a Linux bzImage", Fails(new SyntheticBzImage { BootFlag = 0x1234 }).Message);

    [Theory]
    [InlineData(0x0200, "2.00")]
    [InlineData(0x0201, "2.01")]
    public void AProtocolOlderThan202IsRefused(ushort version, string shown) =>
        Assert.Equal($"bzImage: offset 0x206 (version): boot protocol {shown} is older than 2.02, the oldest this loader starts",
            Fails(new SyntheticBzImage { Version = version }).Message);

    [Fact]
    public void AZImageIsRefused() =>
        Assert.Contains("(loadflags): LOADED_HIGH is clear: a zImage", Fails(new SyntheticBzImage { LoadFlags = 0 }).Message);

    [Fact]
    public void A64BitKernelIsRefused() =>
        Assert.Contains("(xloadflags): XLF_KERNEL_64 is set: a 64-bit kernel", Fails(new SyntheticBzImage { XLoadFlags = 0x3 }).Message);

    [Fact]
    public void SetupSectorsPastTheEndOfTheFileAreRefused()
    {
        var image = new SyntheticBzImage { KernelBytes = 16 }.Build();
        image[0x1F1] = 200;
        Assert.Equal($"bzImage: offset 0x1F1 (setup_sects): truncated: 200 setup sectors end at 0x19200, and the file has 0x{image.Length:X} bytes: no protected-mode kernel follows",
            Fails(image).Message);
    }

    [Fact]
    public void ASyssizeLongerThanTheFileIsRefused() =>
        Assert.Equal("bzImage: offset 0x1F4 (syssize): truncated: the protected-mode kernel is 0x4000 bytes, but only 0x3000 follow the setup code",
            Fails(new SyntheticBzImage { Syssize = 0x400 }).Message);

    [Fact]
    public void AKernelLargerThanRamIsRefused() =>
        Assert.Contains("(syssize): the kernel does not fit: 3145728 bytes at 1 MiB end at 0x400000, past the guest's RAM (0x00200000 bytes)",
            Fails(new SyntheticBzImage { KernelBytes = 3 << 20, Version = 0x0209 }, ram: 2u << 20).Message);

    [Fact]
    public void AKernelWhoseDecompressionDoesNotFitIsRefused() =>
        Assert.Contains("(init_size): the kernel does not fit: it decompresses into memory up to 0x2000000",
            Fails(new SyntheticBzImage { PrefAddress = 0x100_0000, InitSize = 0x100_0000 }, ram: 16u << 20).Message);

    [Fact]
    public void APrefAddressWhoseDecompressionWrapsPast64BitsIsRefused() =>
        // Found by the linux fuzz target: the end wrapped round to 0x1000 and the kernel was accepted.
        Assert.Contains("(init_size): the kernel does not fit: it decompresses into memory up to 0x10000000000001000 (pref_address 0xFFFFFFFFFFFFF000, init_size 0x2000)",
            Fails(new SyntheticBzImage { Relocatable = 0, PrefAddress = 0xFFFF_FFFF_FFFF_F000, InitSize = 0x2000 }).Message);

    [Fact]
    public void AnEntryOutsideTheKernelIsRefused() =>
        Assert.Contains("(code32_start): 0x00200000 lies outside the protected-mode kernel", Fails(new SyntheticBzImage { Code32Start = 0x200000 }).Message);

    [Fact]
    public void ACommandLineLongerThanCmdlineSizeIsRefused()
    {
        var e = Fails(new SyntheticBzImage { CmdlineSize = 10 }, new LinuxBootOptions { CommandLine = "console=ttyS0" });
        Assert.Equal("bzImage: offset 0x238 (cmdline_size): the command line is 13 bytes, and this kernel takes at most 10", e.Message);
        // Before 2.06 the limit is 255 whatever the field holds.
        var old = Fails(new SyntheticBzImage { Version = 0x0205, CmdlineSize = 10_000 }, new LinuxBootOptions { CommandLine = new string('x', 256) });
        Assert.Contains("at most 255", old.Message);
        Load(new SyntheticBzImage { Version = 0x0205 }, new LinuxBootOptions { CommandLine = new string('x', 255) });
    }

    [Fact]
    public void AnEmptyInitrdIsRefused() =>
        Assert.Equal("rd.gz: initrd: the file is empty",
            Fails(new SyntheticBzImage(), new LinuxBootOptions { Initrd = [], InitrdName = "rd.gz" }, name: "rd.gz").Message);

    [Fact]
    public void AnInitrdThatDoesNotFitAboveTheKernelIsRefused()
    {
        var e = Fails(new SyntheticBzImage(), new LinuxBootOptions { Initrd = new byte[60 << 20], InitrdName = "rd.gz" }, name: "rd.gz");
        Assert.Equal("rd.gz: initrd: 62914560 bytes do not fit between the kernel (up to 0x1400000) and 0x4000000 (the top of RAM)", e.Message);
        var low = Fails(new SyntheticBzImage { InitrdAddrMax = 0x17F_FFFF }, new LinuxBootOptions { Initrd = new byte[(4 << 20) + 1], InitrdName = "rd.gz" }, name: "rd.gz");
        Assert.Contains("(the kernel's initrd_addr_max)", low.Message);
    }

    // ---- the machine picks the protocol ----

    [Fact]
    public void TheKernelLoaderPicksLinuxOrMultibootFromTheImage()
    {
        var linux = KernelLoader.Load(new PhysicalMemory(Ram), new SyntheticBzImage().Build(), "bzImage");
        Assert.NotNull(linux.Linux);
        Assert.Null(linux.Multiboot);
        Assert.StartsWith("Linux boot protocol 2.15, kernel 6.1.0-test", linux.Description);
        var multiboot = KernelLoader.Load(new PhysicalMemory(Ram), BundledImages.Get("hello"), "hello");
        Assert.NotNull(multiboot.Multiboot);
        Assert.Equal(MultibootLoader.BootloaderMagic, multiboot.State.Eax);
    }

    [Fact]
    public void AnInitrdForAMultibootImageIsRefused()
    {
        var e = Assert.Throws<ImageLoadException>(() =>
            KernelLoader.Load(new PhysicalMemory(Ram), BundledImages.Get("hello"), "hello", new KernelOptions { Initrd = [1, 2, 3], InitrdName = "rd.gz" }));
        Assert.Equal("rd.gz: initrd: an initrd is for a Linux kernel, and hello is not one (no Linux setup header: \"HdrS\" at offset 0x202)", e.Message);
    }

    [Fact]
    public void AFileWithNeitherHeaderSaysBothWereLookedFor()
    {
        var e = Assert.Throws<ImageLoadException>(() => KernelLoader.Load(new PhysicalMemory(Ram), new byte[9000], "k.bin"));
        Assert.Equal("k.bin: kernel header: neither a Linux bzImage (no \"HdrS\" at offset 0x202) nor a Multiboot image (no header, magic 0x1BADB002, in the first 8192 bytes)", e.Message);
    }

    private sealed class NullBus : ICpuBus
    {
        public uint PortRead(ushort port, int size) => 0xFFFF_FFFF;
        public void PortWrite(ushort port, int size, uint value) { }
        public ulong ReadTimeStampCounter(ulong position) => position;
        public byte AcknowledgeInterrupt() => 0x08;
    }
}
