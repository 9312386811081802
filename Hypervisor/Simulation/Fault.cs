using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Simulation;

/// <summary>One fault at a scheduler step. <paramref name="Node"/> and <paramref name="Duration"/> matter to the scenarios whose injector draws them.</summary>
public sealed record Fault(FaultScenario Scenario, int AtStep, int Duration = 0, string Node = "A")
{
    public override string ToString() =>
        Scenario == FaultCatalogue.PartitionOneWay ? $"{Scenario.Name}(from {Node})@{AtStep}"
        : Scenario == FaultCatalogue.RelayReset ? $"{Scenario.Name}({Node})@{AtStep}+{Duration}"
        : Duration > 0 ? $"{Scenario.Name}@{AtStep}+{Duration}"
        : $"{Scenario.Name}@{AtStep}";
}
