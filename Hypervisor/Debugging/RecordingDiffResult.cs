namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// The answer of <see cref="RecordingDiff"/>. <see cref="Position"/> is the first position where
/// the states differ (<see cref="DiffOutcome.StateDiffers"/>), the end of the shorter run
/// (<see cref="DiffOutcome.LengthDiffers"/>), the common end (<see cref="DiffOutcome.Identical"/>),
/// or where a replay failed (<see cref="DiffOutcome.NotReproducible"/>); <see cref="HashA"/> and
/// <see cref="HashB"/> are the state hashes there.
/// </summary>
public sealed record RecordingDiffResult
{
    public required DiffOutcome Outcome { get; init; }
    public ulong Position { get; init; }
    public ulong HashA { get; init; }
    public ulong HashB { get; init; }
    public ulong EndA { get; init; }
    public ulong EndB { get; init; }
    /// <summary>Header fields that differ, one line each ("kernel command line: \"a\" vs \"b\"").</summary>
    public IReadOnlyList<string> ConfigurationDifferences { get; init; } = [];
    /// <summary>
    /// The stretch the logs alone narrowed the difference to, before any bisection: the state was
    /// equal at the start and differs at the end.
    /// </summary>
    public (ulong Start, ulong End)? Bracket { get; init; }
    /// <summary>Why a replay failed, or (with a re-run) which checkpoint disagreed.</summary>
    public string? Message { get; init; }
    /// <summary>Which recording failed to replay: "A" or "B" (<see cref="DiffOutcome.NotReproducible"/> only).</summary>
    public string? FailedRun { get; init; }
    public StateDifference? Detail { get; init; }
    /// <summary>Positions at which the two states were hashed and compared.</summary>
    public int PositionsExamined { get; init; }
    public TimeSpan Elapsed { get; init; }
}
