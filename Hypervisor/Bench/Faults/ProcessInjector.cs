using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// How <c>vmft bench faults</c> produces one scenario of the <see cref="FaultCatalogue"/> with real
/// processes: how the run is set up, what starts with the measured load (faults that last the
/// whole run), and what happens at the fault moment. What the run must end in is the scenario's.
/// </summary>
public sealed class ProcessInjector
{
    public required FaultScenario Scenario { get; init; }

    /// <summary>The guest runs alone (<c>vmft run</c>, its console on TCP) instead of under fault tolerance.</summary>
    public bool Solo { get; init; }

    /// <summary>The relay's connection to the primary goes through a proxy of its own (<see cref="FaultRun.RelayProxy"/>).</summary>
    public bool ProxiesRelayLink { get; init; }

    /// <summary>Arguments only the primary gets (besides its <c>--stats-ms</c>).</summary>
    public IReadOnlyList<string> PrimaryArgs { get; init; } = [];

    /// <summary>Long: in a session only when asked for by name (or with <c>--scenario all</c>), not in the default matrix.</summary>
    public bool OutOfDefault { get; init; }

    /// <summary>When the measured load starts.</summary>
    public Action<FaultRun>? AtLoadStart { get; init; }

    /// <summary>At the fault moment (a seeded moment within the load).</summary>
    public Func<FaultRun, Task>? Strike { get; init; }
}
