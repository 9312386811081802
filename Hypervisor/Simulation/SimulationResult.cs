namespace VmFt.Hypervisor.Simulation;

/// <summary>What one simulated run did.</summary>
public sealed record SimulationResult(
    string Transcript,
    bool Completed,
    string? LiveNodeAtEnd,
    int Steps,
    int? FailoverStep,
    int? LiveAgainStep,
    IReadOnlyList<string> Violations);
