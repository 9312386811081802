using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Simulation;

/// <summary>The faults of one simulated run, any number of them (a crash during a relay outage, say).</summary>
public sealed class FaultPlan
{
    public IReadOnlyList<Fault> Faults { get; }

    public FaultPlan(params Fault[] faults) => Faults = faults;

    public FaultPlan(FaultScenario scenario, int atStep) : this(new Fault(scenario, atStep)) { }

    public static FaultPlan None { get; } = new();

    /// <summary>No node is left to serve: the client must have a prefix of the failure-free transcript.</summary>
    public bool StopsTheService => Faults.Any(f => !f.Scenario.ServiceContinues);

    public override string ToString() => Faults.Count == 0 ? "no fault" : string.Join(", ", Faults);
}
