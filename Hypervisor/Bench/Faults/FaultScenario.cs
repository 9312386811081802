namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>What a fault-injection run does to the FT pair (see <see cref="FaultScenarios"/> for names and expectations).</summary>
public enum FaultScenario
{
    /// <summary>No fault tolerance at all: the guest alone (<c>vmft run</c>) under the same load, the reference for what FT costs.</summary>
    Solo,
    /// <summary>No fault: the reference for throughput, log rate and latency.</summary>
    Baseline,
    /// <summary>SIGKILL the primary at a random moment.</summary>
    KillPrimary,
    /// <summary>SIGKILL the backup at a random moment: the primary continues alone.</summary>
    KillBackup,
    /// <summary>SIGKILL the primary while a burst of large replies is streaming to the client.</summary>
    KillPrimaryInBurst,
    /// <summary>SIGKILL the primary, then the new primary right after it went live (no backup left): the service stops.</summary>
    KillNewPrimary,
    /// <summary>The logging channel black-holes both ways, both nodes alive: the arbiter leaves one live.</summary>
    Partition,
    /// <summary>Every byte on the logging channel is delayed.</summary>
    Delay,
    /// <summary>The logging channel is limited to a low bandwidth.</summary>
    Throttle,
    /// <summary>The logging channel stops forwarding for a while (shorter than the failure timeout), then resumes.</summary>
    Pause,
    /// <summary>The backup process gets a fraction of a CPU (SIGSTOP/SIGCONT cycling) and a small send window: back-pressure.</summary>
    SlowBackup,
    /// <summary>The connection between the relay and the primary is reset (both nodes and the logging channel fine): the relay reconnects and nothing may be lost.</summary>
    RelayReset,
}
