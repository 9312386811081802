using VmFt.Hypervisor.Storage;

namespace VmFt.Hypervisor.Tests.Storage;

/// <summary>A disk backend in memory that counts what reached it (the FT tests look at when writes land).</summary>
internal sealed class MemoryDisk(byte[] bytes) : IDiskBackend
{
    public byte[] Bytes { get; } = bytes;
    public int WritesLanded { get; private set; }
    public int Flushes { get; private set; }
    public long Length => Bytes.Length;
    public bool ReadOnly => false;
    public string Name => "memory";

    public void Read(long offset, Span<byte> into) => Bytes.AsSpan((int)offset, into.Length).CopyTo(into);

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        data.CopyTo(Bytes.AsSpan((int)offset));
        WritesLanded++;
    }

    public void Flush() => Flushes++;

    public void Dispose()
    {
    }

    /// <summary>A 1 MiB disk whose byte i is (i * 7 + i / 512) mod 256.</summary>
    public static byte[] Pattern()
    {
        var b = new byte[1 << 20];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(i * 7 + i / 512);
        return b;
    }
}
