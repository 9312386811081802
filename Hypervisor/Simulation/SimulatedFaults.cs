using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Simulation;

/// <summary>The simulator's injectors: the scenarios of the <see cref="FaultCatalogue"/> that <c>vmft simulate</c> produces.</summary>
public static class SimulatedFaults
{
    /// <summary>
    /// In the order runs draw from (part of what a seed means: reordering changes every seed's
    /// schedule, so a new one goes at the end).
    /// </summary>
    public static readonly IReadOnlyList<SimulatedInjector> Injectors =
    [
        new() { Scenario = FaultCatalogue.KillPrimary, Strike = (c, _) => c.CrashPrimary() },
        new() { Scenario = FaultCatalogue.KillBackup, Strike = (c, _) => c.CrashBackup() },
        new() { Scenario = FaultCatalogue.Partition, Strike = (c, _) => c.PartitionChannel() },
        new()
        {
            Scenario = FaultCatalogue.PartitionOneWay,
            Draw = (at, node, _, _) => new Fault(FaultCatalogue.PartitionOneWay, at, 0, node),
            Strike = (c, f) => c.PartitionChannelFrom(f.Node),
        },
        new()
        {
            // Around the failure timeout: below it nothing may happen, above it both nodes act on stale news.
            Scenario = FaultCatalogue.Pause,
            Draw = (at, _, pick, timeout) => new Fault(FaultCatalogue.Pause, at, 1 + pick.Next(2 * timeout)),
            Strike = (c, f) => c.StallChannel(f.AtStep + f.Duration),
        },
        new()
        {
            Scenario = FaultCatalogue.RelayReset,
            Draw = (at, node, pick, _) => new Fault(FaultCatalogue.RelayReset, at, 1 + pick.Next(30), node),
            Strike = (c, f) => c.BreakRelayLink(f.Node),
            End = (c, f) => c.ReconnectRelayLink(f.Node),
        },
        new()
        {
            Scenario = FaultCatalogue.KillNewPrimary,
            Prepare = (c, _) => c.CrashNewPrimaryWhenLive = true,
            Strike = (c, _) => c.CrashPrimary(),
        },
        // Stalls from a few steps to three failure timeouts: below the timeout nothing may happen.
        new()
        {
            Scenario = FaultCatalogue.FreezePrimary,
            Draw = (at, _, pick, timeout) => new Fault(FaultCatalogue.FreezePrimary, at, 1 + pick.Next(3 * timeout), "A"),
            Strike = (c, f) => c.Freeze("A", f.AtStep + f.Duration),
        },
        new()
        {
            Scenario = FaultCatalogue.FreezeBackup,
            Draw = (at, _, pick, timeout) => new Fault(FaultCatalogue.FreezeBackup, at, 1 + pick.Next(3 * timeout), "B"),
            Strike = (c, f) => c.Freeze("B", f.AtStep + f.Duration),
        },
        new()
        {
            Scenario = FaultCatalogue.FreezeBoth,
            Draw = (at, _, pick, timeout) => new Fault(FaultCatalogue.FreezeBoth, at, 1 + pick.Next(3 * timeout), "both"),
            Strike = (c, f) => c.Freeze("both", f.AtStep + f.Duration),
        },
        new()
        {
            Scenario = FaultCatalogue.LaggingReader,
            Draw = (at, node, pick, timeout) => new Fault(FaultCatalogue.LaggingReader, at, 1 + pick.Next(3 * timeout), node),
            Strike = (c, f) => c.LagReader(f.Node, f.AtStep + f.Duration),
        },
        new()
        {
            // The relay's link to the primary is down from the start and comes up at the drawn step.
            Scenario = FaultCatalogue.RelayLate,
            // Late, not absent: within three failure timeouts, well inside the client's patience.
            Draw = (at, _, _, timeout) => new Fault(FaultCatalogue.RelayLate, Math.Min(at, 3 * timeout), 0, "A"),
            Prepare = (c, f) => c.BreakRelayLink(f.Node),
            Strike = (c, f) => c.ReconnectRelayLink(f.Node),
        },
        // The primary dies and every failover is followed by a new backup joining the node left
        // serving; the plan's further faults (ScheduleExplorer.Plan) strike once it has joined.
        new() { Scenario = FaultCatalogue.Repair, Prepare = (c, _) => c.RepairAfterFailover = true, Strike = (c, _) => c.CrashPrimary() },
        new() { Scenario = FaultCatalogue.KillLoop, Prepare = (c, _) => c.RepairAfterFailover = true, Strike = (c, _) => c.CrashPrimary() },
    ];

    /// <summary>What may strike a pair whole again after a repair: every fault but those that end the service or repair themselves.</summary>
    public static IReadOnlyList<FaultScenario> AfterRepair { get; } =
    [
        FaultCatalogue.KillPrimary, FaultCatalogue.KillBackup, FaultCatalogue.Partition, FaultCatalogue.PartitionOneWay, FaultCatalogue.Pause,
        FaultCatalogue.RelayReset, FaultCatalogue.FreezePrimary, FaultCatalogue.FreezeBackup, FaultCatalogue.FreezeBoth, FaultCatalogue.LaggingReader,
    ];

    /// <summary>The scenarios <c>vmft simulate</c> offers, in drawing order.</summary>
    public static IReadOnlyList<FaultScenario> Scenarios { get; } = [.. Injectors.Select(i => i.Scenario)];

    public static SimulatedInjector For(FaultScenario scenario) =>
        Injectors.FirstOrDefault(i => i.Scenario == scenario) ?? throw new ArgumentException($"the simulator cannot produce {scenario.Name}", nameof(scenario));
}
