namespace VmFt.ReplayLog.Events;

/// <summary>How a <see cref="SnapshotPagesEvent"/> stores its pages. Values are part of the format.</summary>
public enum SnapshotPageEncoding : byte
{
    /// <summary>The pages' bytes as they are.</summary>
    Raw = 0,
    /// <summary>The pages' bytes compressed with Deflate (RFC 1951).</summary>
    Deflate = 1,
}
