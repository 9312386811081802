namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// One backup that joined a live node during a run, in milliseconds: the live node's own figures
/// (its <c>join_ms</c>, from the joiner's arrival to a complete replica, and <c>pause_ms</c>, the
/// guest stood still for the stop-and-copy), and from the kill before it to the joiner saying its
/// copy matches (detection, going live, a fresh process and the copy: how long the service ran
/// without redundancy).
/// </summary>
public sealed record JoinSample(string Node, ulong Generation, double JoinMs, double PauseMs, double? RestoredMs);
