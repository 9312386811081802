using Iced.Intel;

namespace VmFt.Guest.Tests.Processor;

/// <summary>Assembles test programs with Iced's assembler into bytes for a given origin.</summary>
internal static class GuestAssembler
{
    public static byte[] Assemble(int bitness, uint origin, Action<Assembler> build)
    {
        var a = new Assembler(bitness);
        build(a);
        var writer = new ByteWriter();
        a.Assemble(writer, origin);
        return writer.Bytes.ToArray();
    }

    private sealed class ByteWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
