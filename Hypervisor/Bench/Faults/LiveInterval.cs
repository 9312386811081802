namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>A stretch of time (run ms) during which a node could release output to clients.</summary>
public sealed record LiveInterval(string Node, double StartMs, double EndMs, string Why);
