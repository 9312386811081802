using System.Text;
using VmFt.Hypervisor.Debugging;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging;

/// <summary>Linux's System.map as a symbol file: what the kernel's own map holds, and one line of error for anything else.</summary>
public class SystemMapTests
{
    // The first lines of Debian's 6.1 686 map, in its order (nm -n), with a local and a weak symbol added.
    private const string Map = """
        000001ce A kexec_control_code_size
        01000000 A phys_startup_32
        c1000000 T _stext
        c1000000 T _text
        c1000000 T startup_32
        c1000000 T startup_32
        c10000a0 t verify_cpu
        c1001000 T do_one_initcall
        c1d929c1 T start_kernel
        c1d92a00 W arch_post_acpi_subsys_init
        c2000000 D jiffies
        c2000010 d local_data
        c2100000 B __bss_start
        """;

    private static ElfSymbols Parse(string text) => SymbolFile.Parse(Encoding.ASCII.GetBytes(text), "System.map", out _);

    [Fact]
    public void Names_resolve_to_their_addresses_and_addresses_back_to_names()
    {
        var symbols = Parse(Map);
        Assert.True(symbols.TryGetAddress("start_kernel", out uint start));
        Assert.Equal(0xC1D929C1u, start);
        Assert.True(symbols.TryGetAddress("verify_cpu", out uint local));
        Assert.Equal(0xC10000A0u, local);
        Assert.Equal("start_kernel", symbols.Describe(0xC1D929C1));
        Assert.Equal("start_kernel+0x10", symbols.Describe(0xC1D929D1));
        Assert.Equal("jiffies+0x4", symbols.Describe(0xC2000004));
        Assert.Equal("arch_post_acpi_subsys_init", symbols.Describe(0xC1D92A00));
    }

    [Fact]
    public void Of_several_names_at_one_address_a_global_one_is_shown()
    {
        var symbols = Parse(Map);
        // _stext, _text and startup_32 (twice) share c1000000: all global text, the name order decides, stably.
        string? name = symbols.Describe(0xC1000000);
        Assert.Contains(name, new[] { "_stext", "_text", "startup_32" });
        Assert.Equal(name, Parse(Map).Describe(0xC1000000));
        Assert.Equal("startup_32+0x5", symbols.Describe(0xC1000005)!.Replace(name!, "startup_32"));
    }

    [Fact]
    public void Absolute_symbols_are_not_addresses_in_the_kernel()
    {
        var symbols = Parse(Map);
        Assert.False(symbols.TryGetAddress("kexec_control_code_size", out _));
        Assert.False(symbols.TryGetAddress("phys_startup_32", out _));
        Assert.Null(symbols.Describe(0x1CE));
        Assert.Null(symbols.Describe(0x01000000));
    }

    [Fact]
    public void Kallsyms_module_columns_and_blank_lines_are_accepted()
    {
        var symbols = Parse("\nc8000000 t helper\t[virtio]\n\nc8000100 T probe [virtio]\n");
        Assert.True(symbols.TryGetAddress("probe", out uint probe));
        Assert.Equal(0xC8000100u, probe);
    }

    [Theory]
    [InlineData("c1000000 T startup_32\nc1000010 T\n", "line 2: 'c1000010 T' has 2 fields")]
    [InlineData("c1000000 T startup_32\n\nc100zz10 T broken\n", "line 3: 'c100zz10' is not a hexadecimal address")]
    [InlineData("c1000000 T startup_32\nc1000010 TT two_letters\n", "line 2: 'TT' is not an nm symbol type")]
    [InlineData("c1000000 T startup_32\nffffffffc1000010 T far_away\n", "line 2: address ffffffffc1000010 does not fit in 32 bits")]
    [InlineData("c1000000 T startup_32\nc1000010 T one two three\n", "line 2: 'c1000010 T one two three' has 5 fields")]
    public void A_malformed_line_is_one_error_naming_its_line(string text, string expected)
    {
        var e = Assert.Throws<SymbolFileException>(() => Parse(text));
        Assert.StartsWith("System.map: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains("expected ADDRESS TYPE NAME", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Debians_placeholder_map_says_where_the_real_one_is()
    {
        var e = Assert.Throws<SymbolFileException>(() => Parse("ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n"));
        Assert.Contains("placeholder", e.Message);
        Assert.Contains("-dbg", e.Message);
    }

    [Theory]
    [InlineData("definitely not a symbol file\n", "neither an ELF file (no ELF magic at byte offset 0) nor a System.map (its first line is not ADDRESS TYPE NAME)")]
    [InlineData("", "neither an ELF file nor a System.map (it is empty)")]
    [InlineData("\n\n  \n", "neither an ELF file nor a System.map (it is empty)")]
    public void A_file_that_is_neither_is_one_error(string text, string expected)
    {
        var e = Assert.Throws<SymbolFileException>(() => Parse(text));
        Assert.Equal("System.map: " + expected, e.Message);
    }

    [Fact]
    public void Binary_junk_is_neither()
    {
        var e = Assert.Throws<SymbolFileException>(() => SymbolFile.Parse([0x00, 0xFF, 0xFE, 0x80, 0x81], "blob", out _));
        Assert.Contains("blob: neither an ELF file", e.Message);
    }

    [Fact]
    public void An_elf_file_is_still_read_as_elf()
    {
        var symbols = SymbolFile.Parse(VmFt.Guest.Images.BundledImages.Get("hello"), "hello.elf", out string? warning);
        Assert.Null(warning);
        Assert.True(symbols.TryGetAddress("kmain", out _));
    }
}
