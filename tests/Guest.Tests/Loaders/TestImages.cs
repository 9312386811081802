using System.Buffers.Binary;
using System.Text;

namespace VmFt.Guest.Tests.Loaders;

/// <summary>Builds small kernels byte by byte, so each test states exactly what the file holds.</summary>
internal static class TestImages
{
    public const uint HeaderMagic = 0x1BADB002;

    public static void W32(byte[] b, int offset, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(offset), v);
    public static void W16(byte[] b, int offset, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(offset), v);
    public static uint R32(byte[] b, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(offset));
    public static ushort R16(byte[] b, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(offset));

    /// <summary>Writes a Multiboot header (magic, flags, checksum) at <paramref name="offset"/>.</summary>
    public static void PutHeader(byte[] b, int offset, uint flags)
    {
        W32(b, offset, HeaderMagic);
        W32(b, offset + 4, flags);
        W32(b, offset + 8, unchecked(0u - HeaderMagic - flags));
    }

    /// <summary>
    /// An a.out-kludge kernel: header at file offset <paramref name="headerOffset"/> with the given
    /// address fields; every other byte of the file is (offset * 7 + 3) &amp; 0xFF.
    /// </summary>
    public static byte[] Kludge(int fileSize, int headerOffset, uint headerAddr, uint loadAddr, uint loadEndAddr, uint bssEndAddr, uint entryAddr)
    {
        var b = Pattern(fileSize);
        PutHeader(b, headerOffset, 0x0001_0003);
        W32(b, headerOffset + 12, headerAddr);
        W32(b, headerOffset + 16, loadAddr);
        W32(b, headerOffset + 20, loadEndAddr);
        W32(b, headerOffset + 24, bssEndAddr);
        W32(b, headerOffset + 28, entryAddr);
        return b;
    }

    public static byte[] Pattern(int size)
    {
        var b = new byte[size];
        for (int i = 0; i < size; i++) b[i] = (byte)(i * 7 + 3);
        return b;
    }

    // Layout of the ELF built by Elf(): header, one program header, then the segment's bytes.
    public const int ElfPhOffset = 52;
    public const int ElfSegmentOffset = 0x60;

    /// <summary>
    /// A one-segment ELF32 i386 executable: the segment's file bytes (starting with a Multiboot
    /// header, flags 3) go to <paramref name="paddr"/>, <paramref name="memsz"/> bytes in memory.
    /// </summary>
    public static byte[] Elf(uint paddr, int filesz, uint memsz, uint entry)
    {
        var b = Pattern(ElfSegmentOffset + filesz);
        Array.Clear(b, 0, ElfSegmentOffset);
        b[0] = 0x7F; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F';
        b[4] = 1; b[5] = 1; b[6] = 1;
        W16(b, 16, 2);              // ET_EXEC
        W16(b, 18, 3);              // EM_386
        W32(b, 20, 1);
        W32(b, 24, entry);
        W32(b, 28, ElfPhOffset);
        W16(b, 40, 52);
        W16(b, 42, 32);
        W16(b, 44, 1);
        int ph = ElfPhOffset;
        W32(b, ph, 1);              // PT_LOAD
        W32(b, ph + 4, ElfSegmentOffset);
        W32(b, ph + 8, paddr);
        W32(b, ph + 12, paddr);
        W32(b, ph + 16, (uint)filesz);
        W32(b, ph + 20, memsz);
        W32(b, ph + 24, 7);
        PutHeader(b, ElfSegmentOffset, 3);
        return b;
    }

    public static string ReadCString(byte[] ram, uint address)
    {
        int end = Array.IndexOf(ram, (byte)0, (int)address);
        return Encoding.UTF8.GetString(ram, (int)address, end - (int)address);
    }

    /// <summary>Looks a symbol up in an ELF32 file's .symtab: independent of the program headers the loader reads.</summary>
    public static uint Symbol(byte[] elf, string name)
    {
        uint shoff = R32(elf, 32);
        int shentsize = R16(elf, 46), shnum = R16(elf, 48);
        for (int i = 0; i < shnum; i++)
        {
            int sh = (int)shoff + i * shentsize;
            if (R32(elf, sh + 4) != 2) continue;   // SHT_SYMTAB
            int symOff = (int)R32(elf, sh + 16), symSize = (int)R32(elf, sh + 20);
            int strSh = (int)shoff + (int)R32(elf, sh + 24) * shentsize;
            int strOff = (int)R32(elf, strSh + 16);
            for (int s = symOff; s < symOff + symSize; s += 16)
            {
                int nameAt = strOff + (int)R32(elf, s);
                int nameEnd = Array.IndexOf(elf, (byte)0, nameAt);
                if (Encoding.ASCII.GetString(elf, nameAt, nameEnd - nameAt) == name) return R32(elf, s + 4);
            }
        }
        throw new InvalidOperationException($"symbol {name} not found");
    }
}
