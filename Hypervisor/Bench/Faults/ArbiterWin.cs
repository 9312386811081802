namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>A node that reported winning the arbiter for a generation.</summary>
public readonly record struct ArbiterWin(string Node, ulong Generation);
