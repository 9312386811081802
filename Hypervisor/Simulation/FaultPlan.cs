namespace VmFt.Hypervisor.Simulation;

/// <summary>What goes wrong in one simulated run, and when (in scheduler steps).</summary>
public enum FaultKind
{
    None,
    /// <summary>The primary's process dies: it stops, and messages it sent may or may not arrive.</summary>
    CrashPrimary,
    /// <summary>The backup dies: the primary must win the arbiter and go on alone.</summary>
    CrashBackup,
    /// <summary>The logging channel is cut both ways with both nodes alive: exactly one may stay live.</summary>
    Partition,
    /// <summary>The primary dies, and the backup dies right after going live: the service stops, but nothing wrong is ever emitted.</summary>
    CrashPrimaryThenNewPrimary,
}

public sealed record FaultPlan(FaultKind Kind, int AtStep)
{
    public static FaultPlan None { get; } = new(FaultKind.None, int.MaxValue);
}
