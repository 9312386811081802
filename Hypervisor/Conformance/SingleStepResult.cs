namespace VmFt.Hypervisor.Conformance;

/// <summary>How one vector went; <see cref="Details"/> explains a failure or an exclusion.</summary>
public sealed record SingleStepResult(SingleStepOutcome Outcome, string Details)
{
    public static readonly SingleStepResult Pass = new(SingleStepOutcome.Passed, "");
}
