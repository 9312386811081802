using System.IO.Compression;
using System.Text;

namespace VmFt.Guest.Tests.Oracle;

/// <summary>
/// The x87 vector file format (gzip'd, little-endian):
/// <code>
/// "VMFTX87V" u32 version=1, u32 code base, u32 data base
/// u16 form count, per form: u8 name length, UTF-8 name
/// u32 vector count, then per vector:
///   u16 form, u16 undefined status bits, u8 ulp registers, u8 flags (bit 0: image from the signal frame)
///   u32 x 8 registers, u32 eflags, u32 data seed, u32 state seed
///   u8 patch count, per patch: u16 offset, u32 value
///   108 bytes: initial image XOR the seeded image (zero unless edited)
///   u8 code length, code bytes
///   u16 changed mask (bits 0-7 registers, bit 8 eflags), then the changed values as u32
///   u8 vector (0xFF: none), u32 final EIP when a vector was raised
///   u16 change run count, per run: u16 offset, u8 length, the bytes
///   u8 ignored range count, per range: u16 offset, u16 length
///   108 bytes: final image XOR the initial image, the registers of both taken in physical order
/// </code>
/// The images are stored as differences so that what did not change costs (almost) nothing: the
/// registers are matched by physical number (an image lists them from ST(0), and a push moves
/// them all).
/// </summary>
public static class X87VectorFile
{
    private static readonly byte[] Magic = "VMFTX87V"u8.ToArray();
    public const uint Version = 1;

    public static void Write(string path, IReadOnlyList<string> forms, IReadOnlyList<X87Vector> vectors)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.SmallestSize);
        using var w = new BinaryWriter(gz);
        w.Write(Magic);
        w.Write(Version);
        w.Write(OracleVector.CodeBase);
        w.Write(OracleVector.DataBase);
        w.Write((ushort)forms.Count);
        foreach (var f in forms)
        {
            var name = Encoding.UTF8.GetBytes(f);
            w.Write((byte)name.Length);
            w.Write(name);
        }
        w.Write(vectors.Count);
        foreach (var x in vectors)
        {
            var v = x.Base;
            w.Write(v.Form);
            w.Write(x.UndefinedStatus);
            w.Write(x.UlpRegisters);
            w.Write((byte)(x.FromSignalFrame ? 1 : 0));
            foreach (var r in v.Registers) w.Write(r);
            w.Write(v.Eflags);
            w.Write(v.DataSeed);
            w.Write(x.StateSeed);
            w.Write((byte)v.Patches.Length);
            foreach (var (o, val) in v.Patches) { w.Write(o); w.Write(val); }
            var seeded = X87Values.InitialImage(x.StateSeed);
            for (int i = 0; i < 108; i++) w.Write((byte)(x.InitialImage[i] ^ seeded[i]));
            w.Write((byte)v.Code.Length);
            w.Write(v.Code);
            ushort mask = 0;
            for (int i = 0; i < 8; i++) if (v.FinalRegisters[i] != v.Registers[i]) mask |= (ushort)(1 << i);
            if (v.FinalEflags != v.Eflags) mask |= 1 << 8;
            w.Write(mask);
            for (int i = 0; i < 8; i++) if ((mask & (1 << i)) != 0) w.Write(v.FinalRegisters[i]);
            if ((mask & (1 << 8)) != 0) w.Write(v.FinalEflags);
            w.Write(v.Vector == OracleVector.NoFault ? (byte)0xFF : (byte)v.Vector);
            if (v.Vector != OracleVector.NoFault) w.Write(v.FinalEip);
            var runs = Runs(v.Changes);
            w.Write((ushort)runs.Count);
            foreach (var (o, bytes) in runs) { w.Write(o); w.Write((byte)bytes.Count); foreach (var b in bytes) w.Write(b); }
            w.Write((byte)x.IgnoredData.Length);
            foreach (var (o, l) in x.IgnoredData) { w.Write(o); w.Write(l); }
            var reference = Reference(x.InitialImage, x.FinalImage);
            for (int i = 0; i < 108; i++) w.Write((byte)(x.FinalImage[i] ^ reference[i]));
        }
    }

    /// <summary>The initial image with its registers rearranged to the final image's TOP (header bytes as they are).</summary>
    private static byte[] Reference(byte[] initial, byte[] final)
    {
        var r = (byte[])initial.Clone();
        int top0 = (initial[5] >> 3) & 7, top1 = (final[5] >> 3) & 7;
        for (int i = 0; i < 8; i++)
        {
            // Final ST(i) is physical register (top1 + i), which was initial ST((top1 + i - top0) mod 8).
            int j = (top1 + i - top0) & 7;
            Array.Copy(initial, 28 + 10 * j, r, 28 + 10 * i, 10);
        }
        return r;
    }

    /// <summary>Changed bytes as runs of consecutive offsets (at most 255 bytes each): FSAVE's 108 bytes cost one header.</summary>
    private static List<(ushort Offset, List<byte> Bytes)> Runs((ushort Offset, byte Value)[] changes)
    {
        var runs = new List<(ushort, List<byte>)>();
        foreach (var (o, b) in changes.OrderBy(c => c.Offset))
        {
            if (runs.Count > 0)
            {
                var (start, bytes) = runs[^1];
                if (start + bytes.Count == o && bytes.Count < 255)
                {
                    bytes.Add(b);
                    continue;
                }
            }
            runs.Add((o, [b]));
        }
        return runs;
    }

    public static (string[] Forms, List<X87Vector> Vectors) Read(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var r = new BinaryReader(new BufferedStream(gz, 1 << 16));
        if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            throw new InvalidDataException($"{path}: not an x87 vector file (bad magic)");
        uint version = r.ReadUInt32();
        if (version != Version) throw new InvalidDataException($"{path}: version {version}, this reader knows {Version}");
        if (r.ReadUInt32() != OracleVector.CodeBase || r.ReadUInt32() != OracleVector.DataBase)
            throw new InvalidDataException($"{path}: code/data addresses differ from this build's");
        var forms = new string[r.ReadUInt16()];
        for (int i = 0; i < forms.Length; i++) forms[i] = Encoding.UTF8.GetString(r.ReadBytes(r.ReadByte()));
        int count = r.ReadInt32();
        var vectors = new List<X87Vector>(count);
        for (int n = 0; n < count; n++)
        {
            var v = new OracleVector { Form = r.ReadUInt16() };
            var x = new X87Vector { Base = v, UndefinedStatus = r.ReadUInt16(), UlpRegisters = r.ReadByte() };
            x.FromSignalFrame = (r.ReadByte() & 1) != 0;
            for (int i = 0; i < 8; i++) v.Registers[i] = r.ReadUInt32();
            v.Eflags = r.ReadUInt32();
            v.DataSeed = r.ReadUInt32();
            x.StateSeed = r.ReadUInt32();
            v.Patches = new (ushort, uint)[r.ReadByte()];
            for (int i = 0; i < v.Patches.Length; i++) v.Patches[i] = (r.ReadUInt16(), r.ReadUInt32());
            var seeded = X87Values.InitialImage(x.StateSeed);
            var diff = r.ReadBytes(108);
            for (int i = 0; i < 108; i++) x.InitialImage[i] = (byte)(diff[i] ^ seeded[i]);
            v.Code = r.ReadBytes(r.ReadByte());
            ushort mask = r.ReadUInt16();
            for (int i = 0; i < 8; i++) v.FinalRegisters[i] = (mask & (1 << i)) != 0 ? r.ReadUInt32() : v.Registers[i];
            v.FinalEflags = (mask & (1 << 8)) != 0 ? r.ReadUInt32() : v.Eflags;
            byte vec = r.ReadByte();
            v.Vector = vec == 0xFF ? OracleVector.NoFault : vec;
            v.FinalEip = v.Vector == OracleVector.NoFault ? v.EndEip : r.ReadUInt32();
            var changes = new List<(ushort, byte)>();
            int runCount = r.ReadUInt16();
            for (int i = 0; i < runCount; i++)
            {
                ushort o = r.ReadUInt16();
                int length = r.ReadByte();
                for (int k = 0; k < length; k++) changes.Add(((ushort)(o + k), r.ReadByte()));
            }
            v.Changes = [.. changes];
            x.IgnoredData = new (ushort, ushort)[r.ReadByte()];
            for (int i = 0; i < x.IgnoredData.Length; i++) x.IgnoredData[i] = (r.ReadUInt16(), r.ReadUInt16());
            var fin = r.ReadBytes(108);
            // The status word (which holds TOP) is not in the register area: decode it first.
            for (int i = 0; i < 28; i++) x.FinalImage[i] = (byte)(fin[i] ^ x.InitialImage[i]);
            var reference = Reference(x.InitialImage, x.FinalImage);
            for (int i = 28; i < 108; i++) x.FinalImage[i] = (byte)(fin[i] ^ reference[i]);
            vectors.Add(x);
        }
        return (forms, vectors);
    }
}
