using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Memory;
using static VmFt.Guest.Tests.Loaders.TestImages;

namespace VmFt.Guest.Tests.Loaders;

public class MultibootLoaderTests
{
    private const uint Ram = 32u << 20;

    public static TheoryData<string> Bundled => new() { "hello", "kvstore", "cpubench", "selftest" };

    [Fact]
    public void AllFiveGuestsAreBundled()
    {
        Assert.Equal(["cpubench", "disk", "floats", "hello", "kvstore", "netecho", "selftest"], BundledImages.Names);
        var e = Assert.Throws<ArgumentException>(() => BundledImages.Get("nope"));
        Assert.Contains("hello", e.Message);
    }

    [Theory]
    [MemberData(nameof(Bundled))]
    public void BundledImageLandsAtOneMiBWithItsSymbolsWhereTheLinkerPutThem(string name)
    {
        var elf = BundledImages.Get(name);
        var memory = new PhysicalMemory(Ram);
        Array.Fill(memory.Ram, (byte)0xCC);   // so that bss must have been cleared

        var boot = MultibootLoader.Load(memory, elf, name + ".elf");

        Assert.Equal(MultibootFormat.Elf, boot.Format);
        Assert.Equal(0x100000u, boot.ImageStart);
        Assert.Equal(Symbol(elf, "__image_end"), boot.ImageEnd);
        Assert.Equal(Symbol(elf, "_start"), boot.Entry);
        // The linker script puts the Multiboot header first, at 1 MiB; the text starts at file offset 0x1000.
        Assert.Equal(HeaderMagic, memory.ReadUInt32(0x100000));
        Assert.Equal(elf.AsSpan(0x1000, 256).ToArray(), memory.Ram.AsSpan(0x100000, 256).ToArray());
        // The boot stack lives in bss: it must read as zeros.
        uint stackTop = Symbol(elf, "boot_stack_top");
        Assert.All(memory.Ram.AsSpan((int)stackTop - 16384, 16384).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0xCC, memory.Ram[boot.ImageEnd]);   // nothing written past the image

        var s = boot.State;
        Assert.Equal(BootMode.FlatProtected, s.Mode);
        Assert.Equal(0x2BADB002u, s.Eax);
        Assert.Equal(boot.InfoAddress, s.Ebx);
        Assert.Equal(boot.Entry, s.Eip);
        Assert.Equal(0u, s.Eflags & 0x200);   // IF clear
    }

    [Fact]
    public void InformationStructureDescribesMemoryCommandLineAndLoader()
    {
        var memory = new PhysicalMemory(Ram);
        var boot = MultibootLoader.Load(memory, BundledImages.Get("cpubench"), "cpubench.elf",
            new MultibootOptions { CommandLine = "cpubench.elf iterations=7", BootLoaderName = "test loader" });
        var ram = memory.Ram;
        uint mbi = boot.InfoAddress;

        uint flags = memory.ReadUInt32(mbi);
        foreach (int bit in new[] { 0, 2, 3, 6, 9 }) Assert.True((flags & (1u << bit)) != 0, $"flag bit {bit}");
        Assert.Equal(639u, memory.ReadUInt32(mbi + 4));                  // mem_lower, KiB below 640 KiB
        Assert.Equal((Ram - 0x100000) / 1024, memory.ReadUInt32(mbi + 8)); // mem_upper, KiB above 1 MiB
        Assert.Equal("cpubench.elf iterations=7", ReadCString(ram, memory.ReadUInt32(mbi + 16)));
        Assert.Equal(0u, memory.ReadUInt32(mbi + 20));                   // no modules
        Assert.Equal("test loader", ReadCString(ram, memory.ReadUInt32(mbi + 64)));

        uint mmapLength = memory.ReadUInt32(mbi + 44), mmapAddr = memory.ReadUInt32(mbi + 48);
        var entries = new List<(ulong Base, ulong Length, uint Type)>();
        for (uint e = mmapAddr; e < mmapAddr + mmapLength; e += memory.ReadUInt32(e) + 4)
        {
            ulong b = memory.ReadUInt32(e + 4) | (ulong)memory.ReadUInt32(e + 8) << 32;
            ulong l = memory.ReadUInt32(e + 12) | (ulong)memory.ReadUInt32(e + 16) << 32;
            entries.Add((b, l, memory.ReadUInt32(e + 20)));
        }
        Assert.Equal(
            [(0UL, 0x9FC00UL, 1u), (0x9FC00UL, 0x400UL, 2u), (0x100000UL, (ulong)Ram - 0x100000, 1u)],
            entries);
        // Nothing between 640 KiB and 1 MiB is offered as RAM.
        Assert.DoesNotContain(entries, e => e.Type == 1 && e.Base < 0x100000 && e.Base + e.Length > 0xA0000);
        // The structure and everything it points to sit outside the image.
        Assert.True(mbi + 120 <= boot.ImageStart || mbi >= boot.ImageEnd);
    }

    [Fact]
    public void ModulesArePageAlignedAfterTheImageWithTheirStrings()
    {
        var memory = new PhysicalMemory(Ram);
        var initrd = Pattern(10000);
        var config = new byte[] { 1, 2, 3 };
        var boot = MultibootLoader.Load(memory, BundledImages.Get("hello"), "hello.elf", new MultibootOptions
        {
            Modules = [new MultibootModule("initrd.img", initrd, "initrd root=/dev/ram0"), new MultibootModule("cfg", config, "cfg")],
        });
        uint mbi = boot.InfoAddress;
        Assert.Equal(2u, memory.ReadUInt32(mbi + 20));
        uint mods = memory.ReadUInt32(mbi + 24);
        uint start0 = memory.ReadUInt32(mods), end0 = memory.ReadUInt32(mods + 4);
        uint start1 = memory.ReadUInt32(mods + 16), end1 = memory.ReadUInt32(mods + 20);
        Assert.Equal(0u, start0 % 4096);
        Assert.Equal(0u, start1 % 4096);
        Assert.True(start0 >= boot.ImageEnd);
        Assert.True(start1 >= end0);
        Assert.Equal(initrd.Length, (int)(end0 - start0));
        Assert.Equal(initrd, memory.Ram.AsSpan((int)start0, initrd.Length).ToArray());
        Assert.Equal(config, memory.Ram.AsSpan((int)start1, 3).ToArray());
        Assert.Equal("initrd root=/dev/ram0", ReadCString(memory.Ram, memory.ReadUInt32(mods + 8)));
        Assert.Equal("cfg", ReadCString(memory.Ram, memory.ReadUInt32(mods + 24)));
        Assert.Equal([new LoadedModule(start0, end0, "initrd root=/dev/ram0"), new LoadedModule(start1, end1, "cfg")], boot.Modules);
        // The information block does not overlap a module.
        Assert.True(mbi + 120 <= start0 || mbi >= end1);
    }

    [Fact]
    public void AoutKludgeLoadsTextAndClearsBss()
    {
        // File offset 0 goes to 0x200000; the header sits at offset 0x40, so header_addr = 0x200040.
        var file = Kludge(0x400, 0x40, headerAddr: 0x200040, loadAddr: 0x200000, loadEndAddr: 0x200300,
                          bssEndAddr: 0x201000, entryAddr: 0x200080);
        var memory = new PhysicalMemory(Ram);
        Array.Fill(memory.Ram, (byte)0xCC);
        var boot = MultibootLoader.Load(memory, file, "kludge.bin");

        Assert.Equal(MultibootFormat.AoutKludge, boot.Format);
        Assert.Equal(file.AsSpan(0, 0x300).ToArray(), memory.Ram.AsSpan(0x200000, 0x300).ToArray());
        Assert.All(memory.Ram.AsSpan(0x200300, 0xD00).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0xCC, memory.Ram[0x201000]);
        Assert.Equal(0xCC, memory.Ram[0x1FFFFF]);
        Assert.Equal((0x200000u, 0x201000u, 0x200080u), (boot.ImageStart, boot.ImageEnd, boot.Entry));
        Assert.Equal(0x200080u, boot.State.Eip);
        Assert.Equal(0x2BADB002u, boot.State.Eax);
    }

    [Fact]
    public void AoutKludgeWithoutEndAddressesLoadsTheRestOfTheFile()
    {
        // Header at offset 0x100 of the file, the file loaded from its offset 0x80 at 0x300000.
        var file = Kludge(0x500, 0x100, headerAddr: 0x300080, loadAddr: 0x300000, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x300000);
        var memory = new PhysicalMemory(Ram);
        var boot = MultibootLoader.Load(memory, file, "kludge.bin");
        Assert.Equal(file.AsSpan(0x80).ToArray(), memory.Ram.AsSpan(0x300000, 0x480).ToArray());
        Assert.Equal(0x300480u, boot.ImageEnd);
    }

    [Fact]
    public void InformationMovesAboveTheImageWhenTheImageCoversLowMemory()
    {
        // An image loaded over 0x10000-0x30000 leaves no room in low memory at 64 KiB.
        var file = Kludge(0x20000, 0x40, headerAddr: 0x10040, loadAddr: 0x10000, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x10000);
        var memory = new PhysicalMemory(Ram);
        var boot = MultibootLoader.Load(memory, file, "low.bin", new MultibootOptions { CommandLine = "low" });
        Assert.True(boot.InfoAddress >= 0x30000, $"info at 0x{boot.InfoAddress:X}");
        Assert.Equal(file, memory.Ram.AsSpan(0x10000, 0x20000).ToArray());   // not overwritten
        Assert.Equal("low", ReadCString(memory.Ram, memory.ReadUInt32(boot.InfoAddress + 16)));
    }

    [Fact]
    public void InformationMovesAboveAModuleThatCoversLowMemory()
    {
        // Found by the multiboot fuzz target: an image ending below 64 KiB puts its first module
        // there, and the information structure used to be written over it.
        var file = Kludge(0x1000, 0x40, headerAddr: 0x2040, loadAddr: 0x2000, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x2000);
        var module = Pattern(0x20000);
        var memory = new PhysicalMemory(Ram);
        var boot = MultibootLoader.Load(memory, file, "low.bin", new MultibootOptions { CommandLine = "low", Modules = [new MultibootModule("m", module, "m")] });
        var placed = Assert.Single(boot.Modules);
        Assert.Equal(0x3000u, placed.Start);
        Assert.True(boot.InfoAddress >= placed.End, $"info at 0x{boot.InfoAddress:X}, module at [0x{placed.Start:X}, 0x{placed.End:X})");
        Assert.Equal(module, memory.Ram.AsSpan((int)placed.Start, module.Length).ToArray());
        Assert.Equal("low", ReadCString(memory.Ram, memory.ReadUInt32(boot.InfoAddress + 16)));
    }

    [Fact]
    public void ElfEntryLinkedAtAVirtualAddressIsTranslatedToPhysical()
    {
        var file = Elf(paddr: 0x100000, filesz: 0x100, memsz: 0x100, entry: 0xC0100010);
        W32(file, ElfPhOffset + 8, 0xC0100000);   // p_vaddr: a kernel linked in the upper gigabyte
        var boot = MultibootLoader.Load(new PhysicalMemory(Ram), file, "high.elf");
        Assert.Equal(0x100010u, boot.Entry);
    }
}
