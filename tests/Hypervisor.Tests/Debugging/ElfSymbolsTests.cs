using System.Buffers.Binary;
using VmFt.Guest.Images;
using VmFt.Hypervisor.Debugging;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging;

public class ElfSymbolsTests
{
    private static readonly byte[] Hello = BundledImages.Get("hello");

    [Fact]
    public void The_entry_point_from_the_elf_header_is_start()
    {
        // The ELF header's e_entry (offset 24) is read here directly, not through the reader.
        uint entry = BinaryPrimitives.ReadUInt32LittleEndian(Hello.AsSpan(24));
        var symbols = ElfSymbols.Parse(Hello, out string? problem);
        Assert.Null(problem);
        Assert.True(symbols.TryGetAddress("_start", out uint start));
        Assert.Equal(entry, start);
        Assert.Equal("_start", symbols.Describe(entry));
        Assert.Equal("_start+0x3", symbols.Describe(entry + 3));
    }

    [Theory]
    [InlineData("hello")]
    [InlineData("kvstore")]
    [InlineData("selftest")]
    [InlineData("cpubench")]
    public void Every_function_name_resolves_back_to_itself(string guest)
    {
        var symbols = ElfSymbols.Parse(BundledImages.Get(guest), out string? problem);
        Assert.Null(problem);
        foreach (string name in new[] { "kmain", "serial_putc", "memcpy", "memset" })
        {
            Assert.True(symbols.TryGetAddress(name, out uint address), name);
            Assert.Equal(name, symbols.Describe(address));
            Assert.Equal(name + "+0x1", symbols.Describe(address + 1));
        }
    }

    [Fact]
    public void Addresses_far_from_every_symbol_have_no_name()
    {
        var symbols = ElfSymbols.Parse(Hello, out _);
        Assert.Null(symbols.Describe(0));
        Assert.Null(symbols.Describe(0xFFFFFFF0));
    }

    [Fact]
    public void A_truncated_file_gives_no_symbols_and_a_reason_never_an_exception()
    {
        foreach (int length in new[] { 0, 3, 20, 51, 52, 200, Hello.Length / 2, Hello.Length - 41, Hello.Length - 1 })
        {
            var symbols = ElfSymbols.Parse(Hello.AsSpan(0, length), out string? problem);
            Assert.NotNull(problem);
            Assert.Equal(0, symbols.Count);
            Assert.DoesNotContain('\n', problem);
        }
    }

    [Fact]
    public void Foreign_and_64_bit_files_are_refused_with_a_reason()
    {
        ElfSymbols.Parse("not an elf file at all, just text long enough to look like a header....."u8, out string? text);
        Assert.Contains("not an ELF", text);
        byte[] elf64 = (byte[])Hello.Clone();
        elf64[4] = 2;
        Assert.Equal(0, ElfSymbols.Parse(elf64, out string? wide).Count);
        Assert.Contains("32-bit", wide);
    }

    [Fact]
    public void A_stripped_image_has_no_symbol_table()
    {
        byte[] stripped = (byte[])Hello.Clone();
        uint shoff = BinaryPrimitives.ReadUInt32LittleEndian(stripped.AsSpan(32));
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(stripped.AsSpan(48));
        for (int i = 0; i < shnum; i++)
        {
            var type = stripped.AsSpan((int)shoff + i * 40 + 4, 4);
            if (BinaryPrimitives.ReadUInt32LittleEndian(type) == 2) BinaryPrimitives.WriteUInt32LittleEndian(type, 0);
        }
        Assert.Equal(0, ElfSymbols.Parse(stripped, out string? problem).Count);
        Assert.Contains("no symbol table", problem);
    }

    [Fact]
    public void Random_corruption_never_throws()
    {
        var random = new Random(20260101);
        for (int round = 0; round < 2000; round++)
        {
            byte[] bad = (byte[])Hello.Clone();
            int flips = random.Next(1, 8);
            for (int f = 0; f < flips; f++)
            {
                // Most rounds hit the header and section headers, where a flip changes the structure.
                int at = random.Next(3) == 0 ? random.Next(bad.Length) : random.Next(2) == 0 ? random.Next(52) : bad.Length - 1 - random.Next(7 * 40);
                bad[at] = (byte)random.Next(256);
            }
            var symbols = ElfSymbols.Parse(bad, out string? problem);
            if (problem is not null) Assert.Equal(0, symbols.Count);
            // Whatever survived must answer lookups without throwing.
            symbols.Describe((uint)random.Next());
            symbols.TryGetAddress("kmain", out _);
        }
    }

    [Fact]
    public void A_missing_file_is_a_reason_too()
    {
        var symbols = ElfSymbols.Load(Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.elf"), out string? problem);
        Assert.Equal(0, symbols.Count);
        Assert.Equal("no such file", problem);
    }
}
