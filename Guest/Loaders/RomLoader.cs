using VmFt.Guest.Memory;

namespace VmFt.Guest.Loaders;

/// <summary>
/// Maps a firmware image the way a PC decodes its BIOS flash: ending at 1 MiB (the legacy BIOS
/// window) and ending at 4 GiB (where the reset vector is fetched from). The CPU then starts from
/// its power-on state, F000:FFF0 with CS base 0xFFFF0000, i.e. the image's last 16 bytes.
/// </summary>
public static class RomLoader
{
    public const int MaxSize = 256 * 1024;

    /// <exception cref="ImageLoadException">The image is empty, larger than 256 KiB, or clashes with something already mapped.</exception>
    public static BootState Load(PhysicalMemory memory, ReadOnlySpan<byte> rom, string name)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (rom.Length == 0)
            throw new ImageLoadException(name, null, "file size", "the ROM image is empty");
        if (rom.Length > MaxSize)
            throw new ImageLoadException(name, null, "file size",
                $"the ROM image is {rom.Length} bytes, larger than the {MaxSize / 1024} KiB window below 1 MiB");

        // Mappings are whole pages; pad at the front (with 0xFF, as erased flash) so the last byte stays last.
        int size = (int)((rom.Length + PhysicalMemory.PageSize - 1) & ~(PhysicalMemory.PageSize - 1));
        var padded = new byte[size];
        Array.Fill(padded, (byte)0xFF, 0, size - rom.Length);
        rom.CopyTo(padded.AsSpan(size - rom.Length));

        uint low = 0x100000u - (uint)size, high = (uint)(0x1_0000_0000UL - (ulong)size);
        try
        {
            memory.MapRom(low, padded);
            memory.MapRom(high, padded);
        }
        catch (ArgumentException e)
        {
            throw new ImageLoadException(name, null, "ROM mapping", $"cannot map at 0x{low:X8} and 0x{high:X8}: {e.Message}");
        }
        return new BootState
        {
            Mode = BootMode.PowerOn,
            CodeSelector = 0xF000,
            CodeBase = 0xFFFF0000,
            DataSelector = 0,
            Eip = 0xFFF0,
        };
    }
}
