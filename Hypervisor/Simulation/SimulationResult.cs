namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// What one simulated run did. <see cref="FailoverStep"/>: when a node first won the arbiter (the
/// backup going live, or the primary going on alone); <see cref="BackupChannelEnd"/>: how the
/// backup's end of the logging channel ended, if it did.
/// </summary>
public sealed record SimulationResult(
    string Transcript,
    bool Completed,
    string? LiveNodeAtEnd,
    int Steps,
    int? FailoverStep,
    int? LiveAgainStep,
    IReadOnlyList<string> Violations,
    string? BackupChannelEnd);
