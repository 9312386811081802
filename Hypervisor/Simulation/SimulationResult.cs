namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// What one simulated run did. <see cref="FailoverStep"/>: when a node first won the arbiter (the
/// backup going live, or the primary going on alone); <see cref="BackupChannelEnd"/>: how the
/// backup's end of the logging channel ended, if it did (the last backup's, after a repair).
/// </summary>
public sealed record SimulationResult(
    string Transcript,
    bool Completed,
    string? LiveNodeAtEnd,
    int Steps,
    int? FailoverStep,
    int? LiveAgainStep,
    IReadOnlyList<string> Violations,
    string? BackupChannelEnd)
{
    /// <summary>Times a node won the arbiter and carried on (the backup going live, or the primary going on alone).</summary>
    public int Failovers { get; init; }

    /// <summary>Backups that joined the node left serving and had their copy (repairs).</summary>
    public int Rejoins { get; init; }

    /// <summary>The newest generation the relay followed.</summary>
    public ulong Generation { get; init; }
}
