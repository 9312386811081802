namespace VmFt.Guest.Loaders;

public static partial class MultibootLoader
{
    private const int ElfHeaderSize = 52;
    private const int ProgramHeaderSize = 32;
    private const uint PtLoad = 1;
    private const ushort EtExec = 2;
    private const ushort EmI386 = 3;

    /// <summary>Validates an ELF32 executable and lists its PT_LOAD segments at their physical addresses.</summary>
    private static uint PlanElf(ReadOnlySpan<byte> image, string name, uint ramSize, List<Segment> segments)
    {
        if (image.Length < 4 || image[0] != 0x7F || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            throw new ImageLoadException(name, 0, "e_ident",
                "unsupported format: not an ELF file, and the Multiboot header does not give load addresses (flags bit 16)");
        if (image.Length < ElfHeaderSize)
            throw new ImageLoadException(name, 0, "ELF header",
                $"truncated: the ELF header needs {ElfHeaderSize} bytes, the file has {image.Length}");
        if (image[4] != 1)
            throw new ImageLoadException(name, 4, "e_ident[EI_CLASS]",
                image[4] == 2 ? "a 64-bit ELF file; only 32-bit (ELFCLASS32) kernels load" : $"unknown ELF class {image[4]}");
        if (image[5] != 1)
            throw new ImageLoadException(name, 5, "e_ident[EI_DATA]", $"data encoding {image[5]} is not little-endian (1)");
        ushort type = ReadU16(image, 16);
        if (type != EtExec)
            throw new ImageLoadException(name, 16, "e_type", $"{type} is not an executable (ET_EXEC = 2)");
        ushort machine = ReadU16(image, 18);
        if (machine != EmI386)
            throw new ImageLoadException(name, 18, "e_machine",
                $"wrong machine type {machine}{MachineName(machine)}, expected 3 (i386)");

        uint entry = ReadU32(image, 24);
        uint phoff = ReadU32(image, 28);
        ushort phentsize = ReadU16(image, 42);
        ushort phnum = ReadU16(image, 44);
        if (phnum == 0)
            throw new ImageLoadException(name, 44, "e_phnum", "no program headers: nothing to load");
        if (phentsize < ProgramHeaderSize)
            throw new ImageLoadException(name, 42, "e_phentsize", $"{phentsize} is smaller than an ELF32 program header ({ProgramHeaderSize})");
        ulong phEnd = phoff + (ulong)phnum * phentsize;
        if (phEnd > (ulong)image.Length)
            throw new ImageLoadException(name, 28, "e_phoff",
                $"truncated: the program headers end at 0x{phEnd:X}, past the end of the file (0x{image.Length:X} bytes)");

        uint? physicalEntry = null;
        for (int i = 0; i < phnum; i++)
        {
            int ph = (int)(phoff + (ulong)i * phentsize);
            if (ReadU32(image, ph) != PtLoad) continue;
            uint offset = ReadU32(image, ph + 4);
            uint vaddr = ReadU32(image, ph + 8);
            uint paddr = ReadU32(image, ph + 12);
            uint filesz = ReadU32(image, ph + 16);
            uint memsz = ReadU32(image, ph + 20);
            if (memsz == 0) continue;
            if (filesz > memsz)
                throw new ImageLoadException(name, ph + 16, $"segment {i} p_filesz",
                    $"0x{filesz:X} is larger than p_memsz 0x{memsz:X}");
            if ((ulong)offset + filesz > (ulong)image.Length)
                throw new ImageLoadException(name, ph + 4, $"segment {i} p_offset",
                    $"truncated: the segment's bytes [0x{offset:X}, 0x{(ulong)offset + filesz:X}) run past the end of the file (0x{image.Length:X} bytes)");
            if ((ulong)paddr + memsz > ramSize)
                throw new ImageLoadException(name, ph + 12, $"segment {i} p_paddr",
                    $"the segment [0x{paddr:X8}, 0x{(ulong)paddr + memsz:X}) lies outside RAM (0x{ramSize:X8} bytes)");
            foreach (var s in segments)
                if (paddr < s.Address + s.MemorySize && s.Address < paddr + memsz)
                    throw new ImageLoadException(name, ph + 12, $"segment {i} p_paddr",
                        $"the segment [0x{paddr:X8}, 0x{paddr + memsz:X8}) overlaps an earlier one at 0x{s.Address:X8}");
            segments.Add(new Segment(paddr, (int)offset, filesz, memsz));
            // The entry is a virtual address; translate it like GRUB for kernels linked above their load address.
            if (entry - vaddr < memsz) physicalEntry ??= entry - vaddr + paddr;
        }
        if (segments.Count == 0)
            throw new ImageLoadException(name, 28, "program headers", "no PT_LOAD segment with a non-zero size: nothing to load");
        return physicalEntry ?? throw new ImageLoadException(name, 24, "e_entry",
            $"0x{entry:X8} does not lie inside any loadable segment");
    }

    private static string MachineName(ushort machine) => machine switch
    {
        62 => " (x86-64)",
        40 => " (ARM)",
        183 => " (AArch64)",
        243 => " (RISC-V)",
        8 => " (MIPS)",
        20 => " (PowerPC)",
        _ => "",
    };
}
