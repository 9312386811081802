using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// How the simulator produces one scenario of the <see cref="FaultCatalogue"/>: the details a run
/// draws for it, what it does to the cluster when it strikes, and (for one that lasts) at its end.
/// </summary>
public sealed class SimulatedInjector
{
    public required FaultScenario Scenario { get; init; }

    /// <summary>The fault of a run, given its step, a node drawn for it, the run's random source and the failure timeout (default: the step alone).</summary>
    public Func<int, string, Random, int, Fault>? Draw { get; init; }

    /// <summary>Before the run starts.</summary>
    public Action<SimulatedCluster, Fault>? Prepare { get; init; }

    /// <summary>At the fault's step.</summary>
    public required Action<SimulatedCluster, Fault> Strike { get; init; }

    /// <summary>At the fault's step plus its duration (when it has one).</summary>
    public Action<SimulatedCluster, Fault>? End { get; init; }

    public Fault DrawFault(int atStep, string node, Random pick, int failureTimeout) =>
        Draw?.Invoke(atStep, node, pick, failureTimeout) ?? new Fault(Scenario, atStep);
}
