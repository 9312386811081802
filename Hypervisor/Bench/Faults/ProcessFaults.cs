using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>The fault bench's injectors: the scenarios of the <see cref="FaultCatalogue"/> that <c>vmft bench faults</c> produces, in report order.</summary>
public static class ProcessFaults
{
    /// <summary>The channel delay of the delay scenario.</summary>
    public static readonly TimeSpan ChannelDelay = TimeSpan.FromMilliseconds(20);
    /// <summary>The bandwidth of the throttle scenario, bytes per second per direction (4 Mbit/s: just above kvstore's log rate at 200 requests/s, so bursts queue).</summary>
    public const long ThrottleBytesPerSecond = 512 * 1024;
    /// <summary>How long the pause scenario stops the channel: shorter than the failure timeout, so no failover is due.</summary>
    public static TimeSpan PauseLength(FaultBenchOptions o) => TimeSpan.FromMilliseconds(o.TimeoutMs / 2);
    /// <summary>
    /// The slow backup's share of a CPU, in stop/run cycles of <see cref="SlowBackupPeriod"/>, and
    /// the primary's small send window: kvstore logs about 125 KB/s, so a backup stopped for 150 ms
    /// leaves some 18 KB unacknowledged and the primary waits on the window every cycle.
    /// </summary>
    public const double SlowBackupShare = 0.25;
    public static readonly TimeSpan SlowBackupPeriod = TimeSpan.FromMilliseconds(200);
    public const string SlowBackupWindow = "8K";

    public static readonly IReadOnlyList<ProcessInjector> Injectors =
    [
        new() { Scenario = FaultCatalogue.Solo, Solo = true },
        new() { Scenario = FaultCatalogue.Baseline },
        new() { Scenario = FaultCatalogue.KillPrimary, Strike = run => run.KillAsync(run.Cluster.Primary!, "kill primary") },
        new() { Scenario = FaultCatalogue.KillBackup, Strike = run => run.KillAsync(run.Cluster.Backup!, "kill backup") },
        new() { Scenario = FaultCatalogue.KillBurst, Strike = KillInBurstAsync },
        new() { Scenario = FaultCatalogue.KillNewPrimary, Strike = KillNewPrimaryAsync },
        new() { Scenario = FaultCatalogue.Repair, Strike = KillAndRejoinAsync },
        new() { Scenario = FaultCatalogue.KillLoop, OutOfDefault = true, Strike = KillAndRejoinAsync },
        new() { Scenario = FaultCatalogue.Partition, Strike = run => run.Act("partition", () => run.Proxy.Partition()) },
        new() { Scenario = FaultCatalogue.Delay, AtLoadStart = run => { run.Mark("delay"); run.Proxy.Delay = ChannelDelay; } },
        new() { Scenario = FaultCatalogue.Throttle, AtLoadStart = run => { run.Mark("throttle"); run.Proxy.BytesPerSecond = ThrottleBytesPerSecond; } },
        new() { Scenario = FaultCatalogue.Pause, Strike = PauseAsync },
        new()
        {
            Scenario = FaultCatalogue.SlowBackup,
            PrimaryArgs = ["--send-window", SlowBackupWindow],
            AtLoadStart = run =>
            {
                run.Mark("slow backup");
                run.Throttle = new ProcessThrottle(run.Cluster.Backup!.Id, SlowBackupShare, SlowBackupPeriod);
            },
        },
        new() { Scenario = FaultCatalogue.RelayReset, ProxiesRelayLink = true, Strike = RelayResetAsync },
        new() { Scenario = FaultCatalogue.FreezePrimary, Strike = run => FreezeAsync(run, "freeze primary", run.Cluster.Primary!) },
        new() { Scenario = FaultCatalogue.FreezeBackup, Strike = run => FreezeAsync(run, "freeze backup", run.Cluster.Backup!) },
        new() { Scenario = FaultCatalogue.FreezeBoth, Strike = run => FreezeAsync(run, "freeze both", run.Cluster.Primary!, run.Cluster.Backup!) },
        new() { Scenario = FaultCatalogue.EtcdMemberLoss, Strike = EtcdMemberLossAsync },
        new() { Scenario = FaultCatalogue.EtcdQuorumLoss, Strike = EtcdQuorumLossAsync },
    ];

    /// <summary>How long the etcd-quorum-loss scenario keeps the quorum away after the kill (well past the failure timeout).</summary>
    public static TimeSpan QuorumOutage(FaultBenchOptions o) => TimeSpan.FromMilliseconds(Math.Max(3000, 4 * o.TimeoutMs));

    /// <summary>How long the freeze scenarios stop a node: three failure timeouts.</summary>
    public static TimeSpan FreezeLength(FaultBenchOptions o) => TimeSpan.FromMilliseconds(3 * o.TimeoutMs);

    /// <summary>The scenarios <c>vmft bench faults</c> offers, in report order.</summary>
    public static IReadOnlyList<FaultScenario> Scenarios { get; } = [.. Injectors.Select(i => i.Scenario)];

    public static ProcessInjector For(FaultScenario scenario) =>
        Injectors.FirstOrDefault(i => i.Scenario == scenario) ?? throw new ArgumentException($"bench faults cannot produce {scenario.Name}", nameof(scenario));

    /// <summary>
    /// The scenarios the net workload runs with: the guest alone, the pair without a fault, and a
    /// primary kill. (A backup joining a guest with a card is not there yet, so no repair; the
    /// others are not yet judged on frames.)
    /// </summary>
    public static readonly IReadOnlyList<FaultScenario> NetScenarios = [FaultCatalogue.Solo, FaultCatalogue.Baseline, FaultCatalogue.KillPrimary];

    /// <summary>A scenario that needs requests (a burst) runs only with kvstore's client; the net workload only with <see cref="NetScenarios"/>.</summary>
    public static bool Applies(FaultScenario s, FaultWorkload w) =>
        w == FaultWorkload.Net ? NetScenarios.Contains(s) : !s.NeedsRequests || w == FaultWorkload.Kvstore;

    private static async Task KillInBurstAsync(FaultRun run)
    {
        // Every client asks for its large value at once; the kill comes once a third of the
        // burst's replies have reached the client, so the rest is still streaming.
        var generator = run.Generator;
        long before = generator.Received;
        long burstBytes = run.Options.Clients * 220L;
        generator.Burst();
        var until = run.Now() + 3000;
        while (generator.Received < before + burstBytes / 3 && run.Now() < until) await Task.Delay(1).ConfigureAwait(false);
        run.Result.Notes.Add($"killed with {generator.Received - before} of about {burstBytes} burst bytes at the client");
        await run.KillAsync(run.Cluster.Primary!, "kill primary").ConfigureAwait(false);
    }

    private static async Task KillNewPrimaryAsync(FaultRun run)
    {
        await run.KillAsync(run.Cluster.Primary!, "kill primary").ConfigureAwait(false);
        if (await run.WaitFor("backup", ": live as generation ", TimeSpan.FromSeconds(10)).ConfigureAwait(false))
            await run.KillAsync(run.Cluster.Backup!, "kill new primary").ConfigureAwait(false);
        else
            run.Result.Violations.Add("the backup did not go live within 10 s of the kill");
    }

    /// <summary>How long, in a repair scenario, the backup may take to go live after the kill of the node it backs up.</summary>
    public static readonly TimeSpan GoLiveLimit = TimeSpan.FromSeconds(10);

    /// <summary>How long a new backup may take, from the kill, to be a complete replica of the node that went live (a fresh process and a copy of all of RAM on a loaded machine).</summary>
    public static readonly TimeSpan JoinLimit = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The repair scenarios: the node serving is killed and its backup goes live; the cluster's
    /// respawn (<see cref="FtProcesses.Respawn"/>, what <c>vmft ft --respawn</c> does) starts a new
    /// backup that joins it; once the live node says the backup joined (from there it counts for the
    /// output rule) and the backup says its copy matches (a complete replica), the next cycle kills
    /// the live node. A node that does not go live, or a join that
    /// fails or does not end in time, is a violation and ends the cycles: the run goes on to its
    /// drain and verdict, with its evidence.
    /// </summary>
    private static async Task KillAndRejoinAsync(FaultRun run)
    {
        var serving = run.Cluster.Primary!;
        var next = run.Cluster.Backup!;
        int cycles = run.Scenario.RepairCycles;
        for (int cycle = 1; cycle <= cycles; cycle++)
        {
            string mark = cycle == 1 ? "kill primary" : $"kill new primary {serving.Name}";
            int earlier = run.Cluster.Replacements.Count; // this cycle's replacement comes after these
            await run.KillAsync(serving, mark).ConfigureAwait(false);
            if (!await run.WaitFor(next.Name, ": live as generation ", GoLiveLimit, after: mark).ConfigureAwait(false))
            {
                run.Result.Violations.Add($"cycle {cycle} of {cycles}: {next.Name} did not go live within {GoLiveLimit.TotalSeconds:F0} s of the kill of {serving.Name}");
                return;
            }
            serving = next;
            if (await JoinedAsync(run, serving, cycle, mark, earlier).ConfigureAwait(false) is not { } joined) return;
            next = joined;
        }
        run.Result.Notes.Add($"{cycles} kill-and-rejoin cycles: {next.Name} joined {serving.Name}, generation {cycles}");
    }

    /// <summary>The backup that joined <paramref name="serving"/> after the kill marked <paramref name="mark"/>; null (and a violation) when none did.</summary>
    private static async Task<ChildProcess?> JoinedAsync(FaultRun run, ChildProcess serving, int cycle, string mark, int earlier)
    {
        var until = run.Now() + JoinLimit.TotalMilliseconds;
        void Failed(string why) => run.Result.Violations.Add($"cycle {cycle} of {run.Scenario.RepairCycles}: no backup joined {serving.Name}: {why}");
        while (run.Now() < until)
        {
            var replacements = run.Cluster.Replacements;
            var joiner = replacements.Count > earlier ? replacements[^1] : null;
            // Complete once the joiner restored and checked the copy: the live node's "backup joined"
            // says only that it sent the last of it (killed between the two, it leaves nobody to serve).
            if (joiner is not null && run.Saw(serving.Name, ": backup joined from ", after: mark) && run.Saw(joiner.Name, ": joined the primary at ", after: mark))
                return joiner;
            // Every way a join ends without a replica, each in the words of whoever saw it.
            string? why = run.Find("ft", " did not start", after: mark) ?? run.Find(serving.Name, " is gone (", after: mark)
                ?? run.Find(serving.Name, "refused a joining backup", after: mark);
            if (why is null && joiner is { HasExited: true })
                why = $"{joiner.Name} exited with code {joiner.ExitCode?.ToString() ?? "?"}: \"{joiner.Lines.LastOrDefault(l => l.Error)?.Text ?? joiner.Lines.LastOrDefault()?.Text}\"";
            if (why is not null)
            {
                Failed(why);
                return null;
            }
            await Task.Delay(10).ConfigureAwait(false);
        }
        Failed($"none was a complete replica {JoinLimit.TotalSeconds:F0} s after the kill");
        return null;
    }

    private static async Task EtcdMemberLossAsync(FaultRun run)
    {
        await run.Act("kill etcd member m1", () => run.Etcd!.Kill(0)).ConfigureAwait(false);
        await run.KillAsync(run.Cluster.Primary!, "kill primary").ConfigureAwait(false);
    }

    private static async Task EtcdQuorumLossAsync(FaultRun run)
    {
        await run.Act("kill etcd members m1 m2", () =>
        {
            run.Etcd!.Kill(0);
            run.Etcd.Kill(1);
        }).ConfigureAwait(false);
        await run.KillAsync(run.Cluster.Primary!, "kill primary").ConfigureAwait(false);
        await Task.Delay(QuorumOutage(run.Options)).ConfigureAwait(false);
        if (run.Saw("backup", ": live as generation "))
            run.Result.Violations.Add("the backup went live while etcd had no quorum");
        if (!run.Saw("backup", "arbiter: no answer from etcd"))
            run.Result.Violations.Add("the backup never said it was waiting for the arbiter while etcd had no quorum");
        await run.Act("restart etcd member m2", () => run.Etcd!.Restart(1)).ConfigureAwait(false);
    }

    private static async Task PauseAsync(FaultRun run)
    {
        run.Mark("pause");
        run.Proxy.Paused = true;
        await Task.Delay(PauseLength(run.Options)).ConfigureAwait(false);
        run.Proxy.Paused = false;
        run.Mark("resume");
    }

    /// <summary>SIGSTOPs <paramref name="nodes"/> at once, waits <see cref="FreezeLength"/>, SIGCONTs them.</summary>
    private static async Task FreezeAsync(FaultRun run, string what, params ChildProcess[] nodes)
    {
        run.Mark(what);
        foreach (var n in nodes) UnixSignals.Stop(n.Id);
        await Task.Delay(FreezeLength(run.Options)).ConfigureAwait(false);
        foreach (var n in nodes) UnixSignals.Continue(n.Id);
        run.Mark("thaw");
    }

    private static async Task RelayResetAsync(FaultRun run)
    {
        run.Mark("relay reset");
        run.RelayProxy!.Reset();
        if (await run.WaitFor("relay", "relay: connected to node primary", TimeSpan.FromSeconds(5), after: "relay reset").ConfigureAwait(false))
            run.Result.Notes.Add("the relay reconnected to the primary");
        else
            run.Result.Violations.Add("the relay did not reconnect to the primary within 5 s of the reset");
    }
}
