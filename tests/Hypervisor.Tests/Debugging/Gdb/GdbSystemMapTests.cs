using VmFt.Guest.Images;
using VmFt.Hypervisor.Debugging;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>
/// gdb reads no System.map: the stub writes the map's symbols as an ELF symbol table and names it
/// (<c>gdb symbols: file PATH</c>); with that file gdb breaks on names and names addresses. The map
/// here is the bundled guest's own symbol table written as nm writes a System.map.
/// </summary>
public sealed class GdbSystemMapTests(GdbRecordings recordings) : IClassFixture<GdbRecordings>
{
    private static string WriteMap(string directory, uint offset = 0)
    {
        var elf = ElfSymbols.Parse(BundledImages.Get("hello"), out _);
        Assert.True(elf.TryGetAddress("kmain", out uint kmain));
        Assert.True(elf.TryGetAddress("serial_putc", out uint putc));
        string path = Path.Combine(directory, $"hello-{offset:x}.System.map");
        File.WriteAllText(path, $"{kmain - offset:x8} T kmain\n{putc - offset:x8} t serial_putc\n{kmain - offset + 0x100000:x8} D some_data\n");
        return path;
    }

    [Fact]
    public void Gdb_breaks_on_a_system_map_name_and_names_addresses()
    {
        using var rig = new GdbTestRig(recordings, "hello", WriteMap(recordings.Directory));
        Assert.EndsWith(".elf", rig.Elf);
        Assert.DoesNotContain("prebuilt", rig.Elf);
        var kmain = DebugRecordings.SymbolsOf("hello").TryGetAddress("kmain", out uint k) ? k : 0;
        string text = rig.Gdb("break kmain", "continue", "info symbol $pc", "x/1i $pc", "info symbol serial_putc+3");
        Assert.Contains($"Breakpoint 1, 0x{kmain:x8} in kmain ()", text);
        Assert.Contains("kmain in section .text", text);
        Assert.Contains($"<kmain>:", text);
        Assert.Contains("serial_putc + 3 in section .text", text);
    }

    [Fact]
    public void An_offset_moves_the_symbols_gdb_gets()
    {
        // The map is written 0x1000 below the guest's real addresses, as a relocated kernel's map is.
        using var rig = new GdbTestRig(recordings, "hello", WriteMap(recordings.Directory, 0x1000), symbolOffset: 0x1000);
        var kmain = DebugRecordings.SymbolsOf("hello").TryGetAddress("kmain", out uint k) ? k : 0;
        string text = rig.Gdb("break kmain", "continue");
        Assert.Contains($"Breakpoint 1, 0x{kmain:x8} in kmain ()", text);
    }

    [Fact]
    public void The_symbol_elf_reads_back_as_the_same_symbols()
    {
        string map = "c1000000 T _text\nc1000000 T startup_32\nc1000050 t local_fn\nc1200000 D jiffies\nc1300000 T late_code\nc1300010 d late_data\nc1400000 B bss_thing\n";
        var symbols = SymbolFile.Parse(System.Text.Encoding.ASCII.GetBytes(map), "System.map", out _);
        var elf = symbols.ToSymbolElf();
        var back = ElfSymbols.Parse(elf, out string? problem);
        Assert.Null(problem);
        Assert.Equal(symbols.Count, back.Count);
        foreach (var name in new[] { "_text", "startup_32", "local_fn", "jiffies", "late_code", "late_data", "bss_thing" })
        {
            Assert.True(symbols.TryGetAddress(name, out uint a));
            Assert.True(back.TryGetAddress(name, out uint b), name);
            Assert.Equal(a, b);
        }
        Assert.Equal(symbols.Describe(0xC1000055), back.Describe(0xC1000055));
        Assert.Equal("jiffies+0x8", back.Describe(0xC1200008));
        var moved = symbols.WithOffset(0x7000000);
        Assert.True(moved.TryGetAddress("late_code", out uint late));
        Assert.Equal(0xC8300000u, late);
        Assert.Equal("late_code+0x4", moved.Describe(0xC8300004));
        Assert.Null(moved.Describe(0xC1300004));
    }
}
