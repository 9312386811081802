namespace VmFt.Hypervisor.Debugging;

/// <summary>A CPU register (or flag of the CPU's state) that holds different values in the two runs, both already formatted.</summary>
public sealed record RegisterDifference(string Name, string A, string B);
