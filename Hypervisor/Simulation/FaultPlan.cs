using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Simulation;

/// <summary>The faults of one simulated run, any number of them (a crash during a relay outage, say).</summary>
public sealed class FaultPlan
{
    public IReadOnlyList<Fault> Faults { get; }

    public FaultPlan(params Fault[] faults) => Faults = faults;

    public FaultPlan(FaultScenario scenario, int atStep) : this(new Fault(scenario, atStep)) { }

    public static FaultPlan None { get; } = new();

    /// <summary>
    /// Further faults of a repair plan, one after the other: each strikes its <see cref="Fault.AtStep"/>
    /// steps after the pair is whole again (a backup joined the node left serving and has its copy)
    /// and the fault before it is over.
    /// </summary>
    public IReadOnlyList<Fault> AfterRepair { get; init; } = [];

    /// <summary>No node is left to serve: the client must have a prefix of the failure-free transcript.</summary>
    public bool StopsTheService => Faults.Any(f => !f.Scenario.ServiceContinues);

    public override string ToString() => (Faults.Count == 0 ? "no fault" : string.Join(", ", Faults)) +
        (AfterRepair.Count == 0 ? "" : $", then once whole: {string.Join(", ", AfterRepair.Select(f => f.ToString().Replace("@", "@+")))}");
}
