using VmFt.Guest.Loaders;
using VmFt.Guest.Memory;
using static VmFt.Guest.Tests.Loaders.TestImages;

namespace VmFt.Guest.Tests.Loaders;

public class RawAndRomLoaderTests
{
    private const uint Ram = 4u << 20;

    [Fact]
    public void RawRealModeBootSectorRunsAt0000_7C00()
    {
        var memory = new PhysicalMemory(Ram);
        var sector = Pattern(512);
        var s = RawLoader.Load(memory, sector, "boot.bin", 0x7C00, 0x7C00, BootMode.Real);
        Assert.Equal(sector, memory.Ram.AsSpan(0x7C00, 512).ToArray());
        Assert.Equal((BootMode.Real, (ushort)0, 0u, 0x7C00u), (s.Mode, s.CodeSelector, s.CodeBase, s.Eip));
        Assert.Equal(0, s.DataSelector);
    }

    [Fact]
    public void RawRealModeEntryAbove64KiBUsesASegment()
    {
        var s = RawLoader.Load(new PhysicalMemory(Ram), Pattern(16), "r.bin", 0x12340, 0x12345, BootMode.Real);
        Assert.Equal((ushort)0x1000, s.CodeSelector);
        Assert.Equal(0x10000u, s.CodeBase);
        Assert.Equal(0x2345u, s.Eip);
        Assert.Equal(0x12345u, s.CodeBase + s.Eip);
    }

    [Fact]
    public void RawProtectedModeImageStartsFlatAtItsEntry()
    {
        var memory = new PhysicalMemory(Ram);
        var image = Pattern(3000);
        var s = RawLoader.Load(memory, image, "r.bin", 0x200000, 0x200010, BootMode.FlatProtected);
        Assert.Equal(image, memory.Ram.AsSpan(0x200000, 3000).ToArray());
        Assert.Equal(BootMode.FlatProtected, s.Mode);
        Assert.Equal(0x200010u, s.Eip);
        Assert.True(s.Esp <= 0x200000, "the stack must not grow into the image");
    }

    [Theory]
    [InlineData(0, 0x1000u, 0x1000u, BootMode.FlatProtected, "r.bin: file size: the image is empty")]
    [InlineData(100, 0x3FFFC0u, 0x3FFFC0u, BootMode.FlatProtected, "r.bin: load address: the image [0x003FFFC0, 0x400024) lies outside RAM (0x00400000 bytes)")]
    [InlineData(16, 0x1000u, 0x400000u, BootMode.FlatProtected, "r.bin: entry: 0x00400000 lies outside RAM (0x00400000 bytes)")]
    [InlineData(16, 0x100000u, 0x100000u, BootMode.Real, "r.bin: entry: 0x00100000 is above 1 MiB, out of reach of real mode")]
    [InlineData(5 << 20, 0u, 0u, BootMode.FlatProtected, "r.bin: file size: the file is 5242880 bytes, larger than the guest's RAM (4194304 bytes)")]
    public void RawBadInput(int size, uint load, uint entry, BootMode mode, string message)
    {
        var memory = new PhysicalMemory(Ram);
        var e = Assert.Throws<ImageLoadException>(() => RawLoader.Load(memory, new byte[size], "r.bin", load, entry, mode));
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData(64 * 1024)]
    [InlineData(256 * 1024)]
    [InlineData(1000)]   // not a page multiple: padded at the front, the last byte still at 0xFFFFF
    public void RomEndsAtOneMiBAndAtFourGiB(int size)
    {
        var memory = new PhysicalMemory(Ram);
        var rom = Pattern(size);
        var s = RomLoader.Load(memory, rom, "bios.bin");
        for (int i = 0; i < size; i += 97)
        {
            Assert.Equal(rom[i], memory.ReadByte((uint)(0x100000 - size + i)));
            Assert.Equal(rom[i], memory.ReadByte((uint)(0x1_0000_0000L - size + i)));
        }
        Assert.Equal(rom[^16], memory.ReadByte(0xFFFFFFF0));   // the reset vector
        Assert.Equal(rom[^1], memory.ReadByte(0xFFFFF));
        Assert.Equal(PageKind.Rom, memory.KindOf(0xFFFFF));
        Assert.Equal(PageKind.Rom, memory.KindOf(0xFFFFFFFF));
        if (size % 4096 != 0) Assert.Equal(0xFF, memory.ReadByte((uint)(0x100000 - size - 1)));
        memory.WriteByte(0xFFFF0, 0x12);                        // ROM: writes are ignored
        Assert.Equal(rom[^16], memory.ReadByte(0xFFFF0));

        Assert.Equal(BootMode.PowerOn, s.Mode);
        Assert.Equal((ushort)0xF000, s.CodeSelector);
        Assert.Equal(0xFFFF0000u, s.CodeBase);
        Assert.Equal(0xFFF0u, s.Eip);
        Assert.Equal(0xFFFFFFF0u, s.CodeBase + s.Eip);
    }

    [Fact]
    public void RomBadInput()
    {
        var memory = new PhysicalMemory(Ram);
        Assert.Equal("bios.bin: file size: the ROM image is empty",
            Assert.Throws<ImageLoadException>(() => RomLoader.Load(memory, [], "bios.bin")).Message);
        Assert.Equal("bios.bin: file size: the ROM image is 266240 bytes, larger than the 256 KiB window below 1 MiB",
            Assert.Throws<ImageLoadException>(() => RomLoader.Load(memory, new byte[260 * 1024], "bios.bin")).Message);
        RomLoader.Load(memory, new byte[4096], "first.bin");
        var e = Assert.Throws<ImageLoadException>(() => RomLoader.Load(memory, new byte[8192], "second.bin"));
        Assert.StartsWith("second.bin: ROM mapping: cannot map at 0x000FE000 and 0xFFFFE000: ", e.Message);
    }
}
