namespace VmFt.Hypervisor.Faults;

/// <summary>
/// One fault, described once for every tool that produces it (the simulator, <c>vmft simulate</c>;
/// real processes, <c>vmft bench faults</c>): its name, and what a run with it must end in. How a
/// tool produces it is that tool's injector (Simulation/SimulatedFaults, Bench/Faults/ProcessFaults).
/// </summary>
public sealed class FaultScenario
{
    /// <summary>The name on every command line and in every report.</summary>
    public required string Name { get; init; }

    /// <summary>Names it went by before (still accepted).</summary>
    public IReadOnlyList<string> OtherNames { get; init; } = [];

    /// <summary>What happens, in a line.</summary>
    public required string Summary { get; init; }

    /// <summary>
    /// False when the fault leaves no node able to serve: the client must then have a prefix of the
    /// failure-free transcript and nothing else. Otherwise it must have the whole of it.
    /// </summary>
    public bool ServiceContinues { get; init; } = true;

    /// <summary>A node is lost or cut off: the survivor must win the arbiter and carry on (go live, or go on alone).</summary>
    public bool ExpectsFailover { get; init; }

    /// <summary>What the verdict requires of who carries on.</summary>
    public Takeover Takeover { get; init; }

    /// <summary>It needs a client that sends requests (a burst of replies must be streaming when it strikes, or load must go on across failovers).</summary>
    public bool NeedsRequests { get; init; }

    /// <summary>
    /// Kill-and-rejoin cycles in one run (0: none): the node serving is killed, its backup goes live,
    /// and a new backup joins that node while the load goes on (as <c>vmft ft --respawn</c> does);
    /// the next kill comes once the joined backup is a complete replica.
    /// </summary>
    public int RepairCycles { get; init; }

    /// <summary>The nodes' arbiter is an etcd cluster the run starts (and the fault strikes it).</summary>
    public bool NeedsEtcd { get; init; }

    /// <summary>It should make the primary wait on a full send window; the report says when it did not.</summary>
    public bool ExpectsBackPressure { get; init; }

    /// <summary>Whether <paramref name="name"/> is this scenario's name, or one it went by.</summary>
    public bool Answers(string name) => Name == name || OtherNames.Contains(name);

    public override string ToString() => Name;
}
