namespace VmFt.Hypervisor.Storage;

/// <summary>
/// Where a guest disk's contents live on the host. Only the host calls it, between slices; what it
/// returns reaches the guest as logged events, never directly.
/// </summary>
public interface IDiskBackend : IDisposable
{
    /// <summary>Size in bytes (a multiple of 512).</summary>
    long Length { get; }

    bool ReadOnly { get; }

    /// <summary>A name for messages (the file's path).</summary>
    string Name { get; }

    void Read(long offset, Span<byte> into);

    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Returns once every write before it is on stable storage.</summary>
    void Flush();
}
