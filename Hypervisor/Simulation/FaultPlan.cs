namespace VmFt.Hypervisor.Simulation;

/// <summary>What goes wrong in one simulated run.</summary>
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
    /// <summary>
    /// The logging channel is cut in one direction only (<see cref="Fault.Node"/> is the side whose
    /// messages are lost): one node still hears the other, which no longer hears it.
    /// </summary>
    PartitionOneWay,
    /// <summary>
    /// The logging channel stalls both ways for <see cref="Fault.Duration"/> steps, then delivers
    /// everything (a TCP stream retransmitting): shorter than the failure timeout it must change
    /// nothing; longer, the nodes declare each other dead while the stale messages are still coming.
    /// </summary>
    Pause,
    /// <summary>
    /// The connection between the relay and <see cref="Fault.Node"/> breaks: what was in flight
    /// either way is partly lost, messages sent while it is down are lost, and after
    /// <see cref="Fault.Duration"/> steps the relay reconnects.
    /// </summary>
    RelayLinkDrop,
}

/// <summary>One fault at a scheduler step. <paramref name="Node"/> and <paramref name="Duration"/> matter to the kinds that say so.</summary>
public sealed record Fault(FaultKind Kind, int AtStep, int Duration = 0, string Node = "A")
{
    public override string ToString() => Kind switch
    {
        FaultKind.PartitionOneWay => $"{Kind}(from {Node})@{AtStep}",
        FaultKind.Pause => $"{Kind}@{AtStep}+{Duration}",
        FaultKind.RelayLinkDrop => $"{Kind}({Node})@{AtStep}+{Duration}",
        _ => $"{Kind}@{AtStep}",
    };
}

/// <summary>The faults of one simulated run, any number of them (a crash during a relay outage, say).</summary>
public sealed class FaultPlan
{
    public IReadOnlyList<Fault> Faults { get; }

    public FaultPlan(params Fault[] faults) => Faults = faults;

    public FaultPlan(FaultKind kind, int atStep) : this(new Fault(kind, atStep)) { }

    public static FaultPlan None { get; } = new();

    /// <summary>Both nodes die: the service stops, and the client must have a prefix of the failure-free transcript.</summary>
    public bool StopsTheService => Faults.Any(f => f.Kind == FaultKind.CrashPrimaryThenNewPrimary);

    public override string ToString() => Faults.Count == 0 ? "no fault" : string.Join(", ", Faults);
}
