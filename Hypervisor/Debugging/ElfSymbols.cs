using System.Buffers.Binary;
using System.Text;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// A guest's symbols: names to addresses and addresses to <c>name+0xoff</c>, from the symbol
/// table (.symtab and its string table) of a 32-bit little-endian ELF image or from a Linux
/// <c>System.map</c> (<see cref="ParseSystemMap"/>; <see cref="SymbolFile"/> tells the two apart).
/// The guests carry no debug information, so this is all the debugger knows about them. A
/// malformed ELF file yields no symbols and a reason, never an exception: a debugger without
/// names is still a debugger.
/// </summary>
public sealed partial class ElfSymbols
{
    private const int ElfHeaderSize = 52;
    private const int SectionHeaderSize = 40;
    private const int SymbolSize = 16;
    private const uint ShtSymtab = 2;
    private const ushort ShnUndef = 0, ShnLoReserve = 0xFF00;
    private const byte SttObject = 1, SttFunc = 2;
    private const byte SttNoType = 0;
    private const byte StbGlobal = 1, StbWeak = 2;
    /// <summary>A symbol without a size covers the addresses up to the next symbol, but never further than this.</summary>
    private const uint UnsizedReach = 0x10000;
    private const int MaxNameLength = 4096;

    private readonly record struct Symbol(string Name, uint Value, uint Size, int Rank, bool Code);

    // Sorted by value, then by rank: of several symbols at one address the last is the best name.
    private readonly Symbol[] _byAddress;

    private static int ByAddress(Symbol a, Symbol b) =>
        a.Value != b.Value ? a.Value.CompareTo(b.Value) : a.Rank != b.Rank ? a.Rank.CompareTo(b.Rank) : string.CompareOrdinal(b.Name, a.Name);
    private readonly Dictionary<string, uint> _byName;

    public static ElfSymbols Empty { get; } = new([], new Dictionary<string, uint>(StringComparer.Ordinal));

    private ElfSymbols(Symbol[] byAddress, Dictionary<string, uint> byName)
    {
        _byAddress = byAddress;
        _byName = byName;
    }

    /// <summary>How many named symbols can be looked up.</summary>
    public int Count => _byName.Count;

    /// <summary>
    /// Reads the symbols of <paramref name="elf"/>. On a malformed or foreign file returns
    /// <see cref="Empty"/> and says why in <paramref name="problem"/> (null when all went well).
    /// </summary>
    public static ElfSymbols Parse(ReadOnlySpan<byte> elf, out string? problem)
    {
        try
        {
            var symbols = ParseOrThrow(elf);
            problem = null;
            return symbols;
        }
        catch (FormatException e)
        {
            problem = e.Message;
            return Empty;
        }
        catch (OverflowException)
        {
            problem = "a section offset or size is out of range";
            return Empty;
        }
    }

    /// <summary>Reads a file's symbols; an unreadable file is a <paramref name="problem"/> like a malformed one.</summary>
    public static ElfSymbols Load(string path, out string? problem)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : $"cannot read: {e.Message}";
            return Empty;
        }
        return Parse(bytes, out problem);
    }

    /// <summary>The address of the symbol called <paramref name="name"/> (a global one if names repeat).</summary>
    public bool TryGetAddress(string name, out uint address) => _byName.TryGetValue(name, out address);

    /// <summary>The symbol that covers <paramref name="address"/> and the offset into it.</summary>
    public bool TryDescribe(uint address, out string name, out uint offset)
    {
        name = "";
        offset = 0;
        int lo = 0, hi = _byAddress.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_byAddress[mid].Value <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0) return false;
        // Prefer a sized symbol that really contains the address (among those at the same value).
        var best = _byAddress[found];
        for (int i = found; i >= 0 && _byAddress[i].Value == best.Value; i--)
        {
            var s = _byAddress[i];
            if (s.Size != 0 && address - s.Value < s.Size) { best = s; break; }
        }
        uint distance = address - best.Value;
        if (!(best.Size != 0 && distance < best.Size) && distance >= UnsizedReach) return false;
        name = best.Name;
        offset = distance;
        return true;
    }

    /// <summary><c>name</c> or <c>name+0xoff</c>, or null when no symbol covers the address.</summary>
    public string? Describe(uint address) =>
        TryDescribe(address, out string name, out uint offset) ? (offset == 0 ? name : $"{name}+0x{offset:x}") : null;

    private static ElfSymbols ParseOrThrow(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < ElfHeaderSize || elf[0] != 0x7F || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new FormatException("not an ELF file (no ELF magic at byte offset 0)");
        if (elf[4] != 1) throw new FormatException($"not a 32-bit ELF file (class {elf[4]} at byte offset 4)");
        if (elf[5] != 1) throw new FormatException($"not a little-endian ELF file (data encoding {elf[5]} at byte offset 5)");
        uint shoff = U32(elf, 32);
        int shentsize = U16(elf, 46);
        int shnum = U16(elf, 48);
        if (shoff == 0 || shnum == 0) throw new FormatException("the ELF file has no section headers, so no symbol table");
        if (shentsize < SectionHeaderSize) throw new FormatException($"section header size {shentsize} at byte offset 46 is too small");
        if ((ulong)shoff + (ulong)shnum * (ulong)shentsize > (ulong)elf.Length)
            throw new FormatException($"section headers at byte offset {shoff} run past the end of the file ({elf.Length} bytes)");

        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)(shoff + (uint)(i * shentsize)));
            if (U32(elf, sh + 4) != ShtSymtab) continue;
            uint symOffset = U32(elf, sh + 16), symSize = U32(elf, sh + 20), link = U32(elf, sh + 24);
            if (link >= shnum) throw new FormatException($"the symbol table's string table index {link} (section header at byte offset {sh}) is out of range");
            int strHeader = checked((int)(shoff + link * (uint)shentsize));
            uint strOffset = U32(elf, strHeader + 16), strSize = U32(elf, strHeader + 20);
            var symtab = Slice(elf, symOffset, symSize, "symbol table");
            var strtab = Slice(elf, strOffset, strSize, "string table");
            return Build(symtab, strtab, symOffset);
        }
        throw new FormatException("the ELF file has no symbol table (.symtab): it was stripped");
    }

    private static ElfSymbols Build(ReadOnlySpan<byte> symtab, ReadOnlySpan<byte> strtab, uint symOffset)
    {
        var byAddress = new List<Symbol>();
        var byName = new Dictionary<string, uint>(StringComparer.Ordinal);
        var globalNames = new HashSet<string>(StringComparer.Ordinal);
        // Entry 0 is the reserved null symbol.
        for (int at = SymbolSize; at + SymbolSize <= symtab.Length; at += SymbolSize)
        {
            uint nameOffset = U32(symtab, at);
            uint value = U32(symtab, at + 4), size = U32(symtab, at + 8);
            byte info = symtab[at + 12];
            ushort section = U16(symtab, at + 14);
            int type = info & 0xF, bind = info >> 4;
            if (type is not (SttNoType or SttObject or SttFunc)) continue;     // sections, files, TLS...
            if (section == ShnUndef || section >= ShnLoReserve) continue;     // undefined, absolute, common
            if (nameOffset == 0) continue;
            string name = ReadName(strtab, nameOffset, symOffset + (uint)at);
            bool global = bind is StbGlobal or StbWeak;
            int rank = (type != SttNoType ? 2 : 0) + (global ? 1 : 0);
            byAddress.Add(new Symbol(name, value, size, rank, type == SttFunc));
            // A global wins over a local of the same name; among equals the first stays.
            if (!byName.ContainsKey(name) || (global && !globalNames.Contains(name)))
            {
                byName[name] = value;
                if (global) globalNames.Add(name);
            }
        }
        var sorted = byAddress.ToArray();
        Array.Sort(sorted, ByAddress);
        return new ElfSymbols(sorted, byName);
    }

    private static string ReadName(ReadOnlySpan<byte> strtab, uint offset, uint symbolAt)
    {
        if (offset >= strtab.Length) throw new FormatException($"symbol at byte offset {symbolAt} names string table offset {offset}, past its end ({strtab.Length} bytes)");
        var rest = strtab[(int)offset..];
        int end = rest[..Math.Min(rest.Length, MaxNameLength)].IndexOf((byte)0);
        if (end < 0) throw new FormatException($"symbol at byte offset {symbolAt} has a name that is not terminated");
        return Encoding.UTF8.GetString(rest[..end]);
    }

    private static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> elf, uint offset, uint size, string what)
    {
        if ((ulong)offset + size > (ulong)elf.Length)
            throw new FormatException($"the {what} at byte offset {offset} ({size} bytes) runs past the end of the file ({elf.Length} bytes)");
        return elf.Slice((int)offset, (int)size);
    }

    private static uint U32(ReadOnlySpan<byte> b, int at) =>
        at >= 0 && at + 4 <= b.Length ? BinaryPrimitives.ReadUInt32LittleEndian(b[at..]) : throw new FormatException($"the file ends before byte offset {at + 4}");

    private static ushort U16(ReadOnlySpan<byte> b, int at) =>
        at >= 0 && at + 2 <= b.Length ? BinaryPrimitives.ReadUInt16LittleEndian(b[at..]) : throw new FormatException($"the file ends before byte offset {at + 2}");
}
