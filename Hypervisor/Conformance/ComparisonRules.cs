namespace VmFt.Hypervisor.Conformance;

/// <summary>What a vector's comparison leaves out, and why (see <see cref="Real286Rules"/>).</summary>
public readonly record struct ComparisonRules(
    ushort IgnoredFlags,
    string? ExcludedBecause,
    bool StackOverrunMayBeVector12)
{
    public bool Excluded => ExcludedBecause is not null;
}
