namespace VmFt.Hypervisor.Conformance;

/// <summary>Counts for one file or a whole run.</summary>
public sealed class ConformanceTotals
{
    public int Passed { get; private set; }
    public int Failed { get; private set; }
    public int Masked { get; private set; }

    public void Add(SingleStepOutcome outcome)
    {
        switch (outcome)
        {
            case SingleStepOutcome.Passed: Passed++; break;
            case SingleStepOutcome.Failed: Failed++; break;
            default: Masked++; break;
        }
    }

    public void Add(ConformanceTotals other)
    {
        Passed += other.Passed;
        Failed += other.Failed;
        Masked += other.Masked;
    }
}
