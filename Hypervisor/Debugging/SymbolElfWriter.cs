using System.Buffers.Binary;
using System.Text;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// Writes symbols (a System.map's, typically) as a 32-bit ELF file that holds nothing but a symbol
/// table, so that gdb, which reads no System.map, can <c>file</c> it and name the kernel's
/// addresses: <c>break start_kernel</c>, <c>info symbol</c>, names in <c>x/i</c> and backtraces.
/// The address space is cut into sections by kind, one per run of code or of data symbols in
/// address order (a kernel interleaves them: .text, then rodata and data, then .init.text), all
/// without contents (NOBITS), so gdb reads the bytes themselves from the target.
/// </summary>
public sealed partial class ElfSymbols
{
    private const ushort EtExec = 2, Em386 = 3;
    private const uint ShtStrtab = 3, ShtNobits = 8;
    private const uint ShfWrite = 1, ShfAlloc = 2, ShfExecInstr = 4;
    private const byte StbLocal = 0;

    /// <summary>The ELF image of these symbols (see the type's remarks).</summary>
    public byte[] ToSymbolElf()
    {
        // Sections: null, the runs, .symtab, .strtab, .shstrtab.
        var runs = new List<(uint Start, uint End, bool Code)>();
        var distinct = _byAddress.OrderBy(s => s.Value).ToArray();
        for (int i = 0; i < distinct.Length; i++)
        {
            var s = distinct[i];
            if (runs.Count > 0 && runs[^1].Code == s.Code) continue;
            if (runs.Count > 0) runs[^1] = runs[^1] with { End = s.Value };
            runs.Add((s.Value, 0, s.Code));
        }
        if (runs.Count > 0)
        {
            var last = distinct[^1];
            ulong end = Math.Min((ulong)last.Value + Math.Max(last.Size, UnsizedReach), uint.MaxValue);
            runs[^1] = runs[^1] with { End = (uint)end };
        }
        // Zero-length runs (symbols of both kinds at one address) get no section of their own.
        runs.RemoveAll(r => r.End <= r.Start);

        var shstrtab = new MemoryStream();
        shstrtab.WriteByte(0);
        int NameOf(string n)
        {
            int at = (int)shstrtab.Length;
            shstrtab.Write(Encoding.ASCII.GetBytes(n));
            shstrtab.WriteByte(0);
            return at;
        }
        int textName = NameOf(".text"), dataName = NameOf(".data"), symtabName = NameOf(".symtab"), strtabName = NameOf(".strtab"), shstrtabName = NameOf(".shstrtab");

        int SectionOf(uint address)
        {
            int lo = 0, hi = runs.Count - 1, found = -1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if (runs[mid].Start <= address) { found = mid; lo = mid + 1; }
                else hi = mid - 1;
            }
            return found < 0 || address >= runs[found].End ? -1 : found + 1;
        }

        // ELF wants the local symbols first; sh_info is the index of the first global one.
        var strtab = new MemoryStream();
        strtab.WriteByte(0);
        var symtab = new MemoryStream();
        symtab.Write(new byte[SymbolSize]);
        int firstGlobal = 0;
        foreach (bool wantGlobal in new[] { false, true })
        {
            if (wantGlobal) firstGlobal = (int)(symtab.Length / SymbolSize);
            foreach (var s in _byAddress)
            {
                bool global = (s.Rank & 1) != 0;
                if (global != wantGlobal) continue;
                int section = SectionOf(s.Value);
                if (section < 0) continue;
                var entry = new byte[SymbolSize];
                BinaryPrimitives.WriteUInt32LittleEndian(entry, (uint)strtab.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(4), s.Value);
                BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(8), s.Size);
                entry[12] = (byte)(((global ? StbGlobal : StbLocal) << 4) | (s.Code ? SttFunc : SttObject));
                BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(14), (ushort)section);
                symtab.Write(entry);
                strtab.Write(Encoding.UTF8.GetBytes(s.Name));
                strtab.WriteByte(0);
            }
        }

        int sectionCount = runs.Count + 4;
        if (sectionCount >= ShnLoReserve) throw new InvalidOperationException($"{runs.Count} runs of symbols are more sections than ELF can number");
        int symtabIndex = runs.Count + 1, strtabIndex = runs.Count + 2, shstrtabIndex = runs.Count + 3;
        uint symtabOffset = ElfHeaderSize;
        uint strtabOffset = symtabOffset + (uint)symtab.Length;
        uint shstrtabOffset = strtabOffset + (uint)strtab.Length;
        uint headersOffset = (shstrtabOffset + (uint)shstrtab.Length + 3) & ~3u;

        var elf = new byte[headersOffset + sectionCount * SectionHeaderSize];
        var h = elf.AsSpan();
        h[0] = 0x7F; h[1] = (byte)'E'; h[2] = (byte)'L'; h[3] = (byte)'F';
        h[4] = 1; h[5] = 1; h[6] = 1;   // 32-bit, little-endian, ELF version 1
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], EtExec);
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], Em386);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(h[32..], headersOffset);
        BinaryPrimitives.WriteUInt16LittleEndian(h[40..], ElfHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(h[46..], SectionHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(h[48..], (ushort)sectionCount);
        BinaryPrimitives.WriteUInt16LittleEndian(h[50..], (ushort)shstrtabIndex);
        symtab.ToArray().CopyTo(elf, symtabOffset);
        strtab.ToArray().CopyTo(elf, strtabOffset);
        shstrtab.ToArray().CopyTo(elf, shstrtabOffset);

        void Section(int index, int name, uint type, uint flags, uint address, uint offset, uint size, uint link = 0, uint info = 0, uint align = 1, uint entrySize = 0)
        {
            var sh = elf.AsSpan((int)headersOffset + index * SectionHeaderSize, SectionHeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(sh, (uint)name);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[4..], type);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[8..], flags);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[12..], address);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[16..], offset);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[20..], size);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[24..], link);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[28..], info);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[32..], align);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[36..], entrySize);
        }
        for (int i = 0; i < runs.Count; i++)
        {
            var r = runs[i];
            Section(i + 1, r.Code ? textName : dataName, ShtNobits, r.Code ? ShfAlloc | ShfExecInstr : ShfAlloc | ShfWrite, r.Start, headersOffset, r.End - r.Start);
        }
        Section(symtabIndex, symtabName, ShtSymtab, 0, 0, symtabOffset, (uint)symtab.Length, link: (uint)strtabIndex, info: (uint)firstGlobal, align: 4, entrySize: SymbolSize);
        Section(strtabIndex, strtabName, ShtStrtab, 0, 0, strtabOffset, (uint)strtab.Length);
        Section(shstrtabIndex, shstrtabName, ShtStrtab, 0, 0, shstrtabOffset, (uint)shstrtab.Length);
        return elf;
    }
}
