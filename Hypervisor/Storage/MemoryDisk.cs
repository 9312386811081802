namespace VmFt.Hypervisor.Storage;

/// <summary>
/// A disk in memory: the simulator's shared disk and the tests' disk. It keeps every write that
/// reached it, in order, so a check can ask which writes landed and when.
/// </summary>
public sealed class MemoryDisk(byte[] bytes) : IDiskBackend
{
    private readonly List<(long Offset, byte[] Data)> _writes = [];

    public byte[] Bytes { get; } = bytes;
    /// <summary>Every write that landed, oldest first.</summary>
    public IReadOnlyList<(long Offset, byte[] Data)> Writes => _writes;
    public int WritesLanded => _writes.Count;
    public int Flushes { get; private set; }
    public long Length => Bytes.Length;
    public bool ReadOnly => false;
    public string Name => "memory";

    public void Read(long offset, Span<byte> into) => Bytes.AsSpan((int)offset, into.Length).CopyTo(into);

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        data.CopyTo(Bytes.AsSpan((int)offset));
        _writes.Add((offset, data.ToArray()));
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
