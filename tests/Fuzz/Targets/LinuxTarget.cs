using System.Buffers.Binary;
using VmFt.Guest.Loaders;
using VmFt.Guest.Memory;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// A Linux bzImage: <see cref="KernelLoader.Load"/> (which picks the Linux loader for a setup header)
/// without and with an initrd. The layout it reports is checked against the setup header's own
/// numbers: the decompression area covers pref_address + init_size, and the initrd lies between it
/// and initrd_addr_max, intact.
/// </summary>
public sealed class LinuxTarget : FuzzTarget
{
    private const string CommandLine = "console=ttyS0 fuzz";
    private static readonly byte[] Initrd = Enumerable.Range(0, 0x6000).Select(i => (byte)(i * 13 + 1)).ToArray();
    private readonly PhysicalMemory _memory = new(16u << 20);

    public override string Name => "linux";

    public override string Description => "Linux bzImage: KernelLoader / LinuxLoader, layout checked against the setup header";

    public override void Run(ReadOnlySpan<byte> input)
    {
        var plain = KernelLoader.Load(_memory, input, "bzImage", new KernelOptions { CommandLine = CommandLine });
        if (plain.Linux is { } a) Check(input, a, withInitrd: false);
        if (plain.Linux is null) return;
        var withInitrd = KernelLoader.Load(_memory, input, "bzImage", new KernelOptions { CommandLine = CommandLine, Initrd = Initrd, InitrdName = "initrd" });
        Check(input, withInitrd.Linux!, withInitrd: true);
    }

    private void Check(ReadOnlySpan<byte> image, LinuxBoot boot, bool withInitrd)
    {
        ulong ram = _memory.RamSize;
        if (boot.KernelEnd > boot.DecompressionEnd || boot.DecompressionEnd > ram)
            throw new InvariantException($"kernel [0x{boot.KernelStart:X}, 0x{boot.KernelEnd:X}) decompresses up to 0x{boot.DecompressionEnd:X} (RAM 0x{ram:X})");
        if (boot.ProtocolVersion >= 0x020A)
        {
            // Wide arithmetic: the header's numbers may be anything.
            UInt128 needed = (UInt128)BinaryPrimitives.ReadUInt64LittleEndian(image[0x258..]) + BinaryPrimitives.ReadUInt32LittleEndian(image[0x260..]);
            if (boot.DecompressionEnd < needed)
                throw new InvariantException($"decompression end 0x{boot.DecompressionEnd:X} is below pref_address + init_size = 0x{needed:X}");
        }
        if (!withInitrd) return;
        ulong limit = boot.ProtocolVersion >= 0x0203 ? BinaryPrimitives.ReadUInt32LittleEndian(image[0x22C..]) + 1UL : 0x3800_0000;
        ulong end = (ulong)boot.InitrdStart + boot.InitrdSize;
        if (boot.InitrdSize != Initrd.Length || boot.InitrdStart < boot.DecompressionEnd || end > Math.Min(ram, limit))
            throw new InvariantException($"initrd at [0x{boot.InitrdStart:X}, 0x{end:X}) with the kernel up to 0x{boot.DecompressionEnd:X}, initrd_addr_max + 1 = 0x{limit:X}");
        if (!_memory.Ram.AsSpan((int)boot.InitrdStart, Initrd.Length).SequenceEqual(Initrd))
            throw new InvariantException($"the initrd at 0x{boot.InitrdStart:X} was overwritten");
    }

    public override bool IsContract(Exception e) => e is ImageLoadException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        yield return ("bzimage-2.15", BzImage(0x020F, relocatable: true));
        yield return ("bzimage-2.15-fixed", BzImage(0x020F, relocatable: false));
        yield return ("bzimage-2.02", BzImage(0x0202, relocatable: false));
        yield return ("bzimage-2.06", BzImage(0x0206, relocatable: false));
    }

    /// <summary>A boot sector and setup header as the boot protocol lays them out, then 8 KiB of "kernel".</summary>
    internal static byte[] BzImage(ushort version, bool relocatable)
    {
        const int setupSects = 4, kernelBytes = 0x2000, setup = (setupSects + 1) * 512;
        var b = new byte[setup + kernelBytes];
        var s = b.AsSpan();
        b[0x1F1] = setupSects;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x1F4..], kernelBytes / 16);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FA..], 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FE..], 0xAA55);
        b[0x200] = 0xEB;
        b[0x201] = 0x6A;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x202..], LinuxLoader.HeaderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], version);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x20E..], 0x100);
        "6.1.0-fuzz #1"u8.CopyTo(s[0x300..]);
        b[0x211] = 0x01;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x214..], 0x100000);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x22C..], 0x7FFF_FFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x230..], 0x20_0000);
        b[0x234] = relocatable ? (byte)1 : (byte)0;
        b[0x235] = 12;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], 0x7FF);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x258..], 0x100_0000 - 0x80_0000);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x260..], 0x40_0000);
        for (int i = 0; i < kernelBytes; i++) b[setup + i] = (byte)(i * 7 + 3);
        return b;
    }
}
