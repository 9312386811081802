namespace VmFt.Hypervisor.Debugging;

/// <summary>Snapshots a session holds: how many, the memory they use (shared pages counted once) and the current interval.</summary>
public readonly record struct SnapshotStatistics(int Count, long Bytes, long BudgetBytes, ulong Interval);
