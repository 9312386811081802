namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>Command-line names of scenarios and workloads, and what each scenario must end in.</summary>
public static class FaultScenarios
{
    public static readonly IReadOnlyList<FaultScenario> All = Enum.GetValues<FaultScenario>();

    public static string Name(FaultScenario s) => s switch
    {
        FaultScenario.Solo => "solo",
        FaultScenario.Baseline => "baseline",
        FaultScenario.KillPrimary => "kill-primary",
        FaultScenario.KillBackup => "kill-backup",
        FaultScenario.KillPrimaryInBurst => "kill-burst",
        FaultScenario.KillNewPrimary => "kill-new-primary",
        FaultScenario.Partition => "partition",
        FaultScenario.Delay => "delay",
        FaultScenario.Throttle => "throttle",
        FaultScenario.Pause => "pause",
        FaultScenario.SlowBackup => "slow-backup",
        FaultScenario.RelayReset => "relay-reset",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    public static string Name(FaultWorkload w) => w.ToString().ToLowerInvariant();

    public static bool TryParse(string text, out FaultScenario scenario)
    {
        foreach (var s in All)
        {
            if (Name(s) == text)
            {
                scenario = s;
                return true;
            }
        }
        scenario = default;
        return false;
    }

    public static bool TryParse(string text, out FaultWorkload workload)
    {
        foreach (var w in Enum.GetValues<FaultWorkload>())
        {
            if (Name(w) == text)
            {
                workload = w;
                return true;
            }
        }
        workload = default;
        return false;
    }

    /// <summary>
    /// False only when the scenario leaves no node able to serve: the client must then have a
    /// prefix of the failure-free transcript and nothing else. Otherwise the whole transcript.
    /// </summary>
    public static bool ServiceContinues(FaultScenario s) => s != FaultScenario.KillNewPrimary;

    /// <summary>Kills or cuts that should make the backup take over (or the primary go on alone).</summary>
    public static bool ExpectsFailover(FaultScenario s) =>
        s is FaultScenario.KillPrimary or FaultScenario.KillPrimaryInBurst or FaultScenario.KillNewPrimary or FaultScenario.KillBackup or FaultScenario.Partition;

    /// <summary>A burst needs a client that asks for one: only kvstore has it.</summary>
    public static bool Applies(FaultScenario s, FaultWorkload w) => s != FaultScenario.KillPrimaryInBurst || w == FaultWorkload.Kvstore;
}
