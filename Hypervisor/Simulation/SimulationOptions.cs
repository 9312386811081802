namespace VmFt.Hypervisor.Simulation;

/// <summary>The workload and the knobs of a simulated FT run.</summary>
public sealed record SimulationOptions
{
    public required byte[] Image { get; init; }
    public string ImageName { get; init; } = "guest";
    public string CommandLine { get; init; } = "";
    /// <summary>The shared disk's contents at the start (null: the machine has no disk).</summary>
    public byte[]? Disk { get; init; }
    /// <summary>One disk both nodes share (the default), or a copy of it for each (the backup writes what its replay completes).</summary>
    public bool DiskShared { get; init; } = true;
    /// <summary>What the final disk must hold given the client's transcript (<see cref="SimulatedWorkload.CheckDisk"/>).</summary>
    public Func<string, byte[], IEnumerable<string>>? DiskCheck { get; init; }
    public uint RamSize { get; init; } = 4u << 20;
    public int Seed { get; init; }
    /// <summary>Lines the client types, one every <see cref="ClientInterval"/> steps.</summary>
    public string[] ClientLines { get; init; } = [];
    public int ClientInterval { get; init; } = 3;
    /// <summary>Lines the guest prints before its first answer (then one per line typed).</summary>
    public int BannerLines { get; init; } = 1;
    /// <summary>Lines of output (banner included) after which the client is satisfied.</summary>
    public int ExpectedReplyLines { get; init; }
    public int MaxSteps { get; init; } = 5000;
    /// <summary>Largest latency, in steps, of the logging channel between primary and backup.</summary>
    public int MaxLinkDelay { get; init; } = 3;
    /// <summary>Largest latency, in steps, between the relay and the nodes.</summary>
    public int MaxRelayDelay { get; init; } = 3;
    /// <summary>Steps without hearing from the peer before a node declares it dead.</summary>
    public int FailureTimeout { get; init; } = 20;
    public ulong SliceInstructions { get; init; } = 20_000;
    public ulong CheckpointInterval { get; init; } = 500_000;
    /// <summary>
    /// Steps a waiting client may go without a reply before the run counts as a loss of
    /// availability: detection (the failure timeout), the arbiter, go-live, the relay's switch and
    /// the re-sent input, with room for the longest pause the explorer draws (twice the timeout).
    /// </summary>
    public int AvailabilityBound { get; init; } = 120;
    /// <summary>
    /// Steps a node whose guest exited waits for the relay to confirm its last output before it
    /// gives up and leaves anyway (the host's ceiling, 30 s in real time).
    /// </summary>
    public int GuestExitPatience { get; init; } = 300;
    /// <summary>Test-only: a node whose guest exited leaves two steps later, relay or not, as the primary's host did before it waited for the relay (its last output could be lost).</summary>
    public bool LeaveSoonAfterGuestExitForTesting { get; init; }
    /// <summary>Test-only: a backup that replayed to the guest's exit leaves at once, as its host did before it waited for the primary to finish (a primary that then died took its undelivered output along).</summary>
    public bool BackupLeavesAtGuestExitForTesting { get; init; }
    /// <summary>Test-only: a backup that wins the arbiter never goes live (the availability check must catch it).</summary>
    public bool DisableGoLiveForTesting { get; init; }
    /// <summary>Test-only: the primary releases output before the backup acknowledges (the checker must catch it).</summary>
    public bool BreakOutputRuleForTesting { get; init; }
    /// <summary>Test-only: the watchdog ignores bytes waiting unread in its socket, as the channel's did before it looked (a lagging reader then looks like a silent peer).</summary>
    public bool WatchdogIgnoresUnreadBytesForTesting { get; init; }
    /// <summary>Test-only: the primary performs disk writes before the backup acknowledged their issue (the disk check must catch it).</summary>
    public bool BreakDiskRuleForTesting { get; init; }
}
