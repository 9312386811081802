using VmFt.Guest.Memory;

namespace VmFt.Guest.Loaders;

/// <summary>
/// Copies a flat binary to a given address and starts it there, in flat protected mode or in real
/// mode (for boot-sector style code: CS:IP = (entry &amp; 0xF0000) >> 4 : entry &amp; 0xFFFF).
/// </summary>
public static class RawLoader
{
    /// <exception cref="ImageLoadException">The image is empty, does not fit, or real mode cannot reach the entry.</exception>
    public static BootState Load(PhysicalMemory memory, ReadOnlySpan<byte> image, string name, uint loadAddress, uint entry, BootMode mode)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (mode == BootMode.PowerOn)
            throw new ArgumentException("a raw image starts in real or flat protected mode; use RomLoader for the reset vector", nameof(mode));
        if (image.Length == 0)
            throw new ImageLoadException(name, null, "file size", "the image is empty");
        if ((ulong)image.Length > memory.RamSize)
            throw new ImageLoadException(name, null, "file size",
                $"the file is {image.Length} bytes, larger than the guest's RAM ({memory.RamSize} bytes)");
        ulong end = (ulong)loadAddress + (ulong)image.Length;
        if (end > memory.RamSize)
            throw new ImageLoadException(name, null, "load address",
                $"the image [0x{loadAddress:X8}, 0x{end:X}) lies outside RAM (0x{memory.RamSize:X8} bytes)");
        if (entry >= memory.RamSize)
            throw new ImageLoadException(name, null, "entry", $"0x{entry:X8} lies outside RAM (0x{memory.RamSize:X8} bytes)");
        if (mode == BootMode.Real && entry >= 0x100000)
            throw new ImageLoadException(name, null, "entry", $"0x{entry:X8} is above 1 MiB, out of reach of real mode");

        memory.Load(loadAddress, image);
        if (mode == BootMode.FlatProtected)
            // The stack grows down from the load address: below the image, never into it.
            return new BootState { Mode = BootMode.FlatProtected, Eip = entry, Esp = loadAddress };

        ushort segment = (ushort)((entry & 0xF0000) >> 4);
        return new BootState
        {
            Mode = BootMode.Real,
            CodeSelector = segment,
            CodeBase = (uint)segment << 4,
            DataSelector = segment,
            Eip = entry & 0xFFFF,
            Esp = entry & 0xFFFF,   // SS = CS: the stack sits just below the entry, as at 0000:7C00
        };
    }
}
