namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// A stretch of physical RAM where the two runs differ: from the first to the last differing byte
/// of a run of adjacent differing pages. <see cref="ExcerptA"/> and <see cref="ExcerptB"/> are the
/// first bytes of the range in each run.
/// </summary>
public sealed record MemoryRangeDifference(uint Start, uint Length, byte[] ExcerptA, byte[] ExcerptB);
