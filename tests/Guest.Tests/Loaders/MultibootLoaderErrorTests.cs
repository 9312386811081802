using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Memory;
using static VmFt.Guest.Tests.Loaders.TestImages;

namespace VmFt.Guest.Tests.Loaders;

/// <summary>Every way an image can be unusable gives one message naming the field (and offset) and the reason.</summary>
public class MultibootLoaderErrorTests
{
    private const uint Ram = 16u << 20;

    private static ImageLoadException Fails(byte[] image, uint ram = Ram, MultibootOptions? options = null)
    {
        var memory = new PhysicalMemory(ram);
        var e = Assert.Throws<ImageLoadException>(() => MultibootLoader.Load(memory, image, "k.img", options));
        Assert.StartsWith("k.img: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private static byte[] Hello() => BundledImages.Get("hello");

    [Fact]
    public void FileWithoutHeaderIsNotAnImage()
    {
        var e = Fails(Pattern(20000));
        Assert.Equal("k.img: multiboot header: not a Multiboot image: no header (magic 0x1BADB002, 4-byte aligned) in the first 8192 bytes", e.Message);
        Assert.Null(e.Offset);
    }

    [Fact]
    public void HeaderBeyondTheFirst8KiBIsNotFound()
    {
        var b = new byte[12000];
        PutHeader(b, 8192, 3);
        Assert.Contains("no header", Fails(b).Message);
    }

    [Fact]
    public void BadChecksumIsReportedAtItsOffset()
    {
        var b = new byte[4096];
        PutHeader(b, 0x20, 3);
        b[0x28] ^= 1;
        var e = Fails(b);
        Assert.Equal(0x28, e.Offset);
        Assert.Contains("offset 0x28 (multiboot checksum)", e.Message);
    }

    [Fact]
    public void HeaderWithoutAddressesOnANonElfFileIsAnUnsupportedFormat()
    {
        var b = Pattern(4096);
        PutHeader(b, 0x40, 3);
        var e = Fails(b);
        Assert.Equal("k.img: offset 0x0 (e_ident): unsupported format: not an ELF file, and the Multiboot header does not give load addresses (flags bit 16)", e.Message);
    }

    [Fact]
    public void UnknownRequiredFlagIsRefused()
    {
        var b = Elf(0x100000, 0x40, 0x40, 0x100000);
        PutHeader(b, ElfSegmentOffset, 3 | (1u << 5));
        var e = Fails(b);
        Assert.Contains($"offset 0x{ElfSegmentOffset + 4:X} (multiboot flags): requires feature bit 5", e.Message);
    }

    [Fact]
    public void ImageLargerThanRamIsRefusedBeforeAnythingElse()
    {
        var e = Fails(new byte[(2 << 20) + 1], ram: 2u << 20);
        Assert.Equal("k.img: file size: the file is 2097153 bytes, larger than the guest's RAM (2097152 bytes)", e.Message);
    }

    [Fact]
    public void Elf64IsRefused()
    {
        var b = Hello();
        b[4] = 2;
        var e = Fails(b);
        Assert.Equal(4, e.Offset);
        Assert.Contains("(e_ident[EI_CLASS]): a 64-bit ELF file", e.Message);
    }

    [Fact]
    public void BigEndianElfIsRefused()
    {
        var b = Hello();
        b[5] = 2;
        Assert.Contains("offset 0x5 (e_ident[EI_DATA])", Fails(b).Message);
    }

    [Fact]
    public void WrongMachineTypeIsNamed()
    {
        var b = Hello();
        W16(b, 18, 62);
        Assert.Equal("k.img: offset 0x12 (e_machine): wrong machine type 62 (x86-64), expected 3 (i386)", Fails(b).Message);
    }

    [Fact]
    public void SharedObjectIsNotAnExecutable()
    {
        var b = Hello();
        W16(b, 16, 3);
        Assert.Equal("k.img: offset 0x10 (e_type): 3 is not an executable (ET_EXEC = 2)", Fails(b).Message);
    }

    [Fact]
    public void ElfHeaderCutShortIsTruncated()
    {
        var b = new byte[24];
        b[0] = 0x7F; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F';
        PutHeader(b, 8, 3);
        Assert.Equal("k.img: offset 0x0 (ELF header): truncated: the ELF header needs 52 bytes, the file has 24", Fails(b).Message);
    }

    [Fact]
    public void ProgramHeadersPastTheEndAreTruncated()
    {
        var b = Elf(0x100000, 0x40, 0x40, 0x100000);
        W32(b, 28, (uint)b.Length - 16);
        var e = Fails(b);
        Assert.Equal(28, e.Offset);
        Assert.Contains("(e_phoff): truncated: the program headers end at", e.Message);
    }

    [Fact]
    public void SegmentPastTheEndOfTheFileIsTruncated()
    {
        var b = Elf(0x100000, 0x40, 0x1000, 0x100000);
        W32(b, ElfPhOffset + 16, 0x41);   // p_filesz one byte more than the file holds
        var e = Fails(b);
        Assert.Equal(ElfPhOffset + 4, e.Offset);
        Assert.Contains("(segment 0 p_offset): truncated: the segment's bytes [0x60, 0xA1) run past the end of the file (0xA0 bytes)", e.Message);
    }

    [Fact]
    public void WholeFileCutInTheMiddleOfASegmentIsTruncated()
    {
        var b = Hello();
        Array.Resize(ref b, 0x1100);   // headers and Multiboot header survive, the text does not
        Assert.Contains("(segment 0 p_offset): truncated", Fails(b).Message);
    }

    [Fact]
    public void SegmentOutsideRamIsRefused()
    {
        // hello loads at 1 MiB; a machine with exactly 1 MiB of RAM has nothing there.
        var e = Fails(Hello(), ram: 1u << 20);
        Assert.Contains("(segment 0 p_paddr): the segment [0x00100000, 0x", e.Message);
        Assert.EndsWith("lies outside RAM (0x00100000 bytes)", e.Message);
    }

    [Fact]
    public void FileSizeLargerThanMemorySizeIsRefused()
    {
        var b = Elf(0x100000, 0x40, 0x20, 0x100000);
        Assert.Contains("(segment 0 p_filesz): 0x40 is larger than p_memsz 0x20", Fails(b).Message);
    }

    [Fact]
    public void EntryOutsideEverySegmentIsRefused()
    {
        var b = Elf(0x100000, 0x40, 0x40, 0x500000);
        Assert.Equal("k.img: offset 0x18 (e_entry): 0x00500000 does not lie inside any loadable segment", Fails(b).Message);
    }

    [Fact]
    public void ElfWithoutLoadableSegmentIsRefused()
    {
        var b = Elf(0x100000, 0x40, 0x40, 0x100000);
        W32(b, ElfPhOffset, 4);   // PT_NOTE instead of PT_LOAD
        Assert.Contains("no PT_LOAD segment", Fails(b).Message);
    }

    [Fact]
    public void KludgeFieldsCutOffByTheEndOfFileAreTruncated()
    {
        var b = new byte[0x50];
        PutHeader(b, 0x40, 0x10003);
        Assert.Contains("offset 0x4C (multiboot address fields): flags bit 16 needs 20 bytes", Fails(b).Message);
    }

    [Fact]
    public void KludgeLoadAddressAboveHeaderAddressIsRefused()
    {
        var b = Kludge(0x400, 0x40, headerAddr: 0x200040, loadAddr: 0x200080, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x200080);
        Assert.Equal("k.img: offset 0x50 (load_addr): 0x00200080 is above header_addr 0x00200040", Fails(b).Message);
    }

    [Fact]
    public void KludgeStartingBeforeTheFileIsRefused()
    {
        var b = Kludge(0x400, 0x40, headerAddr: 0x200040, loadAddr: 0x1FFF00, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x200000);
        Assert.Contains("(load_addr): 0x001FFF00 would start 256 bytes before the beginning of the file", Fails(b).Message);
    }

    [Fact]
    public void KludgeLoadEndPastTheFileIsTruncated()
    {
        var b = Kludge(0x400, 0x40, headerAddr: 0x200040, loadAddr: 0x200000, loadEndAddr: 0x200800, bssEndAddr: 0, entryAddr: 0x200000);
        Assert.Equal("k.img: offset 0x54 (load_end_addr): truncated: the text and data end at file offset 0x800, but the file has only 0x400 bytes", Fails(b).Message);
    }

    [Fact]
    public void KludgeBssEndBelowLoadEndIsRefused()
    {
        var b = Kludge(0x400, 0x40, headerAddr: 0x200040, loadAddr: 0x200000, loadEndAddr: 0x200300, bssEndAddr: 0x200200, entryAddr: 0x200000);
        Assert.Contains("offset 0x58 (bss_end_addr): 0x00200200 lies below load_end_addr 0x00200300", Fails(b).Message);
    }

    [Fact]
    public void KludgeImageOutsideRamIsRefused()
    {
        var b = Kludge(0x400, 0x40, headerAddr: 0xFFF040, loadAddr: 0xFFF000, loadEndAddr: 0, bssEndAddr: 0x1002000, entryAddr: 0xFFF000);
        Assert.Contains("(bss_end_addr): the image [0x00FFF000, 0x01002000) lies outside RAM (0x01000000 bytes)", Fails(b).Message);
    }

    [Fact]
    public void KludgeEntryOutsideTheImageIsRefused()
    {
        var b = Kludge(0x400, 0x40, headerAddr: 0x200040, loadAddr: 0x200000, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x100000);
        Assert.Contains("offset 0x5C (entry_addr): 0x00100000 lies outside the image [0x00200000, 0x00200400)", Fails(b).Message);
    }

    [Fact]
    public void ModuleThatDoesNotFitIsNamed()
    {
        var options = new MultibootOptions { Modules = [new MultibootModule("big.initrd", new byte[15 << 20], "")] };
        var memory = new PhysicalMemory(Ram);
        var e = Assert.Throws<ImageLoadException>(() => MultibootLoader.Load(memory, Hello(), "hello.elf", options));
        Assert.StartsWith("big.initrd: module 0: 15728640 bytes do not fit in RAM after hello.elf", e.Message);
    }

    [Fact]
    public void RejectedImageLeavesMemoryUntouched()
    {
        var memory = new PhysicalMemory(Ram);
        var b = Elf(0x100000, 0x40, 0x40, 0x500000);   // bad entry: found only after the segments are read
        Assert.Throws<ImageLoadException>(() => MultibootLoader.Load(memory, b, "k.img"));
        Assert.Equal(-1, memory.Ram.AsSpan().IndexOfAnyExcept((byte)0));
    }
}
