using System.Text;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>
/// The register file gdb sees, described to it as target.xml. gdb's i386 support requires the
/// feature org.gnu.gdb.i386.core with eax..edi, eip, eflags, the six segment selectors, st0..st7
/// and the x87 control registers fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop (in the order
/// of gdb's own 32bit-core.xml), so that <c>info float</c> works. Remote register numbers follow
/// the XML order.
/// </summary>
public static class GdbTargetDescription
{
    public const int Eip = 8, Eflags = 9, FirstSegment = 10, FirstSt = 16, FirstFpControl = 24, Count = 32;

    /// <summary>The order gdb numbers the segment registers in (cs, ss, ds, es, fs, gs).</summary>
    public static readonly Guest.Processor.SegmentRegister[] SegmentOrder =
    [
        Guest.Processor.SegmentRegister.CS, Guest.Processor.SegmentRegister.SS, Guest.Processor.SegmentRegister.DS,
        Guest.Processor.SegmentRegister.ES, Guest.Processor.SegmentRegister.FS, Guest.Processor.SegmentRegister.GS,
    ];

    private static readonly string[] Names =
    [
        "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
        "cs", "ss", "ds", "es", "fs", "gs",
        "st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7",
        "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop",
    ];

    /// <summary>Size in bytes of register <paramref name="number"/> (the st registers are 80-bit).</summary>
    public static int Size(int number) => number is >= FirstSt and < FirstFpControl ? 10 : 4;

    /// <summary>Bytes of a full <c>g</c> reply.</summary>
    public static int TotalSize
    {
        get
        {
            int total = 0;
            for (int i = 0; i < Count; i++) total += Size(i);
            return total;
        }
    }

    public static string Name(int number) => Names[number];

    public static readonly string Xml = Build();

    private static string Build()
    {
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n");
        sb.Append("<architecture>i386</architecture>\n");
        sb.Append("<feature name=\"org.gnu.gdb.i386.core\">\n");
        // EFLAGS bit names (Intel SDM vol. 1, 3.4.3) so that gdb prints [ ZF PF ... ].
        sb.Append("<flags id=\"i386_eflags\" size=\"4\">\n");
        foreach (var (name, bit) in new[] { ("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9), ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21) })
            sb.Append($"<field name=\"{name}\" start=\"{bit}\" end=\"{bit}\"/>\n");
        sb.Append("</flags>\n");
        for (int i = 0; i < Count; i++)
        {
            string type = i switch
            {
                4 or 5 => "data_ptr",
                Eip => "code_ptr",
                Eflags => "i386_eflags",
                >= FirstSt and < FirstFpControl => "i387_ext",
                _ => "int32",
            };
            string group = i >= FirstSt ? " group=\"float\"" : "";
            sb.Append($"<reg name=\"{Names[i]}\" bitsize=\"{Size(i) * 8}\" type=\"{type}\"{group} regnum=\"{i}\"/>\n");
        }
        sb.Append("</feature>\n</target>\n");
        return sb.ToString();
    }
}
