using VmFt.Hypervisor.Faults;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>Everything that shapes a <c>vmft bench faults</c> session.</summary>
public sealed record FaultBenchOptions
{
    /// <summary>Runs of each (scenario, workload) pair.</summary>
    public int Runs { get; init; } = 1;

    /// <summary>The pairs to run, in order (each repeated <see cref="Runs"/> times).</summary>
    public required IReadOnlyList<(FaultScenario Scenario, FaultWorkload Workload)> Matrix { get; init; }

    /// <summary>How long the client load (or the idle wait) lasts in a kvstore or idle run.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Open-loop load before the measured load of a kvstore run (see <see cref="LoadGenerator.WarmUpAsync"/>); zero: none.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Seed of run 0; run i uses Seed + i, so one run is reproduced with <c>--runs 1 --seed (Seed + i)</c>.</summary>
    public int Seed { get; init; }

    public required string OutDirectory { get; init; }

    /// <summary>Open-loop request rate of the load generator (requests per second over all clients).</summary>
    public double RequestRate { get; init; } = 200;

    /// <summary>
    /// Every rate to run the matrix at, side by side (<c>--rate 50,200,1000</c>): the whole matrix
    /// runs once per rate, each with <see cref="RequestRate"/> set to it. Empty: <see cref="RequestRate"/> alone.
    /// </summary>
    public IReadOnlyList<double> Rates { get; init; } = [];

    /// <summary>After the measured load and its drain, the nodes' CPU is read over this much silence (the idle figure); zero: not measured.</summary>
    public TimeSpan IdleCpu { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Logical clients multiplexed over the relay connection (kvstore remembers 64).</summary>
    public int Clients { get; init; } = 32;

    /// <summary>A request with no reply for this long is sent again with the same id.</summary>
    public TimeSpan RetryTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>cpubench iterations (about 44,500 instructions each; 1000 has a reference checksum).</summary>
    public int CpubenchIterations { get; init; } = 1000;

    /// <summary>Print every child line and bench action as it happens.</summary>
    public bool Verbose { get; init; }

    /// <summary>The nodes' heartbeat and failure timeout.</summary>
    public int HeartbeatMs { get; init; } = 100;
    public int TimeoutMs { get; init; } = 500;
}
