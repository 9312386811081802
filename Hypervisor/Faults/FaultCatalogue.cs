namespace VmFt.Hypervisor.Faults;

/// <summary>
/// Every fault the project knows how to inject, each described once. To add one: an entry here
/// (and in <see cref="All"/>), then its injector in the tools that produce it
/// (Simulation/SimulatedFaults for <c>vmft simulate</c>, Bench/Faults/ProcessFaults for
/// <c>vmft bench faults</c>). A tool offers exactly the scenarios it has an injector for.
/// </summary>
public static class FaultCatalogue
{
    public static readonly FaultScenario Solo = new()
    {
        Name = "solo",
        Summary = "no fault tolerance at all: the guest alone under the same load, the reference for what FT costs",
    };

    public static readonly FaultScenario Baseline = new()
    {
        Name = "baseline",
        Summary = "no fault: the reference for throughput, log rate and latency",
    };

    public static readonly FaultScenario KillPrimary = new()
    {
        Name = "kill-primary",
        OtherNames = ["crash-primary"],
        Summary = "the primary dies at a random moment (SIGKILL): the backup goes live",
        ExpectsFailover = true,
        Takeover = Takeover.BackupGoesLive,
    };

    public static readonly FaultScenario KillBackup = new()
    {
        Name = "kill-backup",
        OtherNames = ["crash-backup"],
        Summary = "the backup dies at a random moment: the primary wins the arbiter and goes on alone",
        ExpectsFailover = true,
    };

    public static readonly FaultScenario KillBurst = new()
    {
        Name = "kill-burst",
        Summary = "the primary dies while a burst of large replies streams to the client",
        ExpectsFailover = true,
        Takeover = Takeover.BackupGoesLive,
        NeedsRequests = true,
    };

    public static readonly FaultScenario KillNewPrimary = new()
    {
        Name = "kill-new-primary",
        OtherNames = ["crash-both"],
        Summary = "the primary dies, then the backup right after it went live (no backup left): the service stops, and nothing wrong is ever sent",
        ServiceContinues = false,
        ExpectsFailover = true,
    };

    public static readonly FaultScenario Repair = new()
    {
        Name = "repair",
        Summary = "the primary dies, the backup goes live and a new backup joins it under load; then that primary dies too and the joined backup goes live (redundancy restored after a failover)",
        ExpectsFailover = true,
        Takeover = Takeover.BackupGoesLive,
        NeedsRequests = true,
        RepairCycles = 2,
    };

    public static readonly FaultScenario KillLoop = new()
    {
        Name = "kill-loop",
        Summary = "ten kill-and-rejoin cycles in one run: each primary in turn dies once a backup has joined it, and that backup goes live",
        ExpectsFailover = true,
        Takeover = Takeover.BackupGoesLive,
        NeedsRequests = true,
        RepairCycles = 10,
    };

    public static readonly FaultScenario Partition = new()
    {
        Name = "partition",
        Summary = "the logging channel black-holes both ways, both nodes alive: the arbiter leaves exactly one",
        ExpectsFailover = true,
        Takeover = Takeover.ExactlyOneCarriesOn,
    };

    public static readonly FaultScenario PartitionOneWay = new()
    {
        Name = "partition-one-way",
        Summary = "the logging channel is cut one way only: one node still hears the other, which no longer hears it",
        ExpectsFailover = true,
    };

    public static readonly FaultScenario Delay = new()
    {
        Name = "delay",
        Summary = "every byte on the logging channel is delayed",
    };

    public static readonly FaultScenario Throttle = new()
    {
        Name = "throttle",
        Summary = "the logging channel is limited to a low bandwidth",
    };

    public static readonly FaultScenario Pause = new()
    {
        Name = "pause",
        Summary = "the logging channel stops, then delivers everything: shorter than the failure timeout it changes nothing",
    };

    public static readonly FaultScenario SlowBackup = new()
    {
        Name = "slow-backup",
        Summary = "the backup gets a fraction of a CPU and the primary a small send window: back-pressure",
        ExpectsBackPressure = true,
    };

    public static readonly FaultScenario RelayReset = new()
    {
        Name = "relay-reset",
        OtherNames = ["relay-drop"],
        Summary = "the connection between the relay and a node breaks; the relay reconnects and nothing may be lost",
        Takeover = Takeover.Nobody,
    };

    public static readonly FaultScenario FreezePrimary = new()
    {
        Name = "freeze-primary",
        Summary = "the primary's process stands still (stopped, or starved of CPU) past the failure timeout, then runs on: the backup goes live and the woken primary halts",
        ExpectsFailover = true,
        Takeover = Takeover.BackupGoesLive,
    };

    public static readonly FaultScenario FreezeBackup = new()
    {
        Name = "freeze-backup",
        Summary = "the backup's process stands still past the failure timeout, then runs on: the primary goes on alone and the woken backup halts",
        ExpectsFailover = true,
    };

    public static readonly FaultScenario FreezeBoth = new()
    {
        Name = "freeze-both",
        Summary = "both nodes stand still at once (the host starved or paused) past the failure timeout, then run on: a stall of everything is no failure, and nobody fails over",
        Takeover = Takeover.Nobody,
    };

    public static readonly FaultScenario LaggingReader = new()
    {
        Name = "lagging-reader",
        Summary = "one node's channel reader gets no CPU for up to three failure timeouts while its watchdog runs: the peer's heartbeats wait unread in its socket, which is no failure, and nobody fails over",
        Takeover = Takeover.Nobody,
    };

    public static readonly FaultScenario RelayLate = new()
    {
        Name = "relay-late",
        Summary = "the relay reaches the primary late (it starts after the nodes, or its first connection fails): a guest that ends before then must not take its last output with it",
        Takeover = Takeover.Nobody,
    };

    public static readonly FaultScenario EtcdMemberLoss = new()
    {
        Name = "etcd-member-loss",
        Summary = "the nodes' arbiter is a three-member etcd cluster; one member dies, then the primary: the two left are a quorum and the backup goes live",
        ExpectsFailover = true,
        Takeover = Takeover.BackupGoesLive,
        NeedsEtcd = true,
    };

    public static readonly FaultScenario EtcdQuorumLoss = new()
    {
        Name = "etcd-quorum-loss",
        Summary = "two of the three etcd members die, then the primary: without a quorum nobody goes live; a member returns and the backup goes live with nothing lost",
        ExpectsFailover = true,
        Takeover = Takeover.BackupGoesLive,
        NeedsEtcd = true,
    };

    /// <summary>Every scenario, in the order reports list them.</summary>
    public static readonly IReadOnlyList<FaultScenario> All =
        [Solo, Baseline, KillPrimary, KillBackup, KillBurst, KillNewPrimary, Repair, KillLoop, Partition, PartitionOneWay, Delay, Throttle, Pause, SlowBackup, RelayReset,
         FreezePrimary, FreezeBackup, FreezeBoth, LaggingReader, RelayLate, EtcdMemberLoss, EtcdQuorumLoss];

    /// <summary>The scenario of that name (or one of its former names) among <paramref name="offered"/>.</summary>
    public static bool TryFind(string name, IEnumerable<FaultScenario> offered, out FaultScenario scenario)
    {
        scenario = offered.FirstOrDefault(s => s.Answers(name))!;
        return scenario is not null;
    }
}
