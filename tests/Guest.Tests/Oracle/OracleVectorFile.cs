using System.IO.Compression;
using System.Text;

namespace VmFt.Guest.Tests.Oracle;

/// <summary>
/// The vector file format (gzip'd, little-endian):
/// <code>
/// "VMFTORCL" u32 version=1, u32 code base, u32 data base
/// u16 form count, per form: u8 name length, UTF-8 name (an Iced Code name)
/// u32 vector count, then per vector:
///   u16 form, u16 undefined flags, u8 undefined registers
///   u32 x 8 registers (EAX ECX EDX EBX ESP EBP ESI EDI), u32 eflags, u32 data seed
///   u8 patch count, per patch: u16 offset, u32 value
///   u8 code length, code bytes
///   u16 changed mask (bits 0-7 registers, bit 8 eflags), then the changed values as u32
///   u8 vector (0xFF: none), u32 final EIP when a vector was raised
///   u16 change count, per change: u16 offset, u8 value
/// </code>
/// Only changed registers are stored: random inputs do not compress, so storing them once keeps
/// 200,000 vectors within a few megabytes.
/// </summary>
public static class OracleVectorFile
{
    private static readonly byte[] Magic = "VMFTORCL"u8.ToArray();
    public const uint Version = 1;

    public static void Write(string path, IReadOnlyList<string> forms, IReadOnlyList<OracleVector> vectors)
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
        foreach (var v in vectors)
        {
            w.Write(v.Form);
            w.Write(v.UndefinedFlags);
            w.Write(v.UndefinedRegisters);
            foreach (var r in v.Registers) w.Write(r);
            w.Write(v.Eflags);
            w.Write(v.DataSeed);
            w.Write((byte)v.Patches.Length);
            foreach (var (o, val) in v.Patches) { w.Write(o); w.Write(val); }
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
            w.Write((ushort)v.Changes.Length);
            foreach (var (o, b) in v.Changes) { w.Write(o); w.Write(b); }
        }
    }

    public static (string[] Forms, List<OracleVector> Vectors) Read(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var r = new BinaryReader(new BufferedStream(gz, 1 << 16));
        if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            throw new InvalidDataException($"{path}: not an oracle vector file (bad magic)");
        uint version = r.ReadUInt32();
        if (version != Version) throw new InvalidDataException($"{path}: version {version}, this reader knows {Version}");
        if (r.ReadUInt32() != OracleVector.CodeBase || r.ReadUInt32() != OracleVector.DataBase)
            throw new InvalidDataException($"{path}: code/data addresses differ from this build's");
        var forms = new string[r.ReadUInt16()];
        for (int i = 0; i < forms.Length; i++) forms[i] = Encoding.UTF8.GetString(r.ReadBytes(r.ReadByte()));
        int count = r.ReadInt32();
        var vectors = new List<OracleVector>(count);
        for (int n = 0; n < count; n++)
        {
            var v = new OracleVector { Form = r.ReadUInt16(), UndefinedFlags = r.ReadUInt16(), UndefinedRegisters = r.ReadByte() };
            for (int i = 0; i < 8; i++) v.Registers[i] = r.ReadUInt32();
            v.Eflags = r.ReadUInt32();
            v.DataSeed = r.ReadUInt32();
            v.Patches = new (ushort, uint)[r.ReadByte()];
            for (int i = 0; i < v.Patches.Length; i++) v.Patches[i] = (r.ReadUInt16(), r.ReadUInt32());
            v.Code = r.ReadBytes(r.ReadByte());
            ushort mask = r.ReadUInt16();
            for (int i = 0; i < 8; i++) v.FinalRegisters[i] = (mask & (1 << i)) != 0 ? r.ReadUInt32() : v.Registers[i];
            v.FinalEflags = (mask & (1 << 8)) != 0 ? r.ReadUInt32() : v.Eflags;
            byte vec = r.ReadByte();
            v.Vector = vec == 0xFF ? OracleVector.NoFault : vec;
            v.FinalEip = v.Vector == OracleVector.NoFault ? v.EndEip : r.ReadUInt32();
            v.Changes = new (ushort, byte)[r.ReadUInt16()];
            for (int i = 0; i < v.Changes.Length; i++) v.Changes[i] = (r.ReadUInt16(), r.ReadByte());
            vectors.Add(v);
        }
        return (forms, vectors);
    }
}
