using System.Buffers.Binary;

namespace VmFt.Guest.Tests.Loaders;

/// <summary>
/// A synthetic bzImage: a boot sector and setup header with the fields the boot protocol defines
/// (Documentation/arch/x86/boot.rst), then a protected-mode "kernel" of a recognisable pattern.
/// Every field can be changed before <see cref="Build"/>.
/// </summary>
internal sealed class SyntheticBzImage
{
    public byte SetupSects = 4;
    public ushort BootFlag = 0xAA55;
    public uint Magic = 0x5372_6448;   // "HdrS"
    public ushort Version = 0x020F;
    public byte LoadFlags = 0x01;      // LOADED_HIGH
    public uint Code32Start = 0x100000;
    public uint InitrdAddrMax = 0x7FFF_FFFF;
    public uint KernelAlignment = 0x20_0000;
    public byte Relocatable = 1;
    public ushort XLoadFlags;
    public uint CmdlineSize = 0x7FF;
    public ulong PrefAddress = 0x100_0000;
    public uint InitSize = 0x40_0000;
    public int KernelBytes = 0x3000;
    /// <summary>syssize in 16-byte paragraphs; null: the kernel's size rounded up.</summary>
    public uint? Syssize;
    /// <summary>Bytes after the kernel that are not kernel (a signature).</summary>
    public int Trailer;
    public string KernelVersion = "6.1.0-test (synthetic) #1";
    /// <summary>Length of the header as the jump at 0x200 says (0x202 + this byte).</summary>
    public byte HeaderLength = 0x6A;

    public int SetupSize => ((SetupSects == 0 ? 4 : SetupSects) + 1) * 512;

    public static byte KernelByte(int i) => (byte)(i * 7 + 3);

    public byte[] Build()
    {
        int setup = SetupSize;
        var b = new byte[setup + KernelBytes + Trailer];
        var s = b.AsSpan();
        b[0x1F1] = SetupSects;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x1F4..], Syssize ?? (uint)((KernelBytes + 15) / 16));
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FA..], 0xFFFF);   // vid_mode: normal
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FE..], BootFlag);
        b[0x200] = 0xEB;
        b[0x201] = HeaderLength;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x202..], Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], Version);
        b[0x211] = LoadFlags;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x214..], Code32Start);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x22C..], InitrdAddrMax);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x230..], KernelAlignment);
        b[0x234] = Relocatable;
        b[0x235] = 12;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x236..], XLoadFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], CmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x258..], PrefAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x260..], InitSize);
        // The version string sits in the setup code, kernel_version pointing at it less 0x200.
        int at = 0x300;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x20E..], (ushort)(at - 0x200));
        System.Text.Encoding.ASCII.GetBytes(KernelVersion).CopyTo(s[at..]);
        // Past the header's end, a byte the loader must not copy into the zero page.
        b[0x202 + HeaderLength] = 0xCC;
        for (int i = 0; i < KernelBytes; i++) b[setup + i] = KernelByte(i);
        for (int i = 0; i < Trailer; i++) b[setup + KernelBytes + i] = 0xEE;
        return b;
    }
}
