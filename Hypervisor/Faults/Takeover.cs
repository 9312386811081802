namespace VmFt.Hypervisor.Faults;

/// <summary>What a run's verdict requires of who carries on after a fault.</summary>
public enum Takeover
{
    /// <summary>Nothing beyond the transcript: whoever serves must serve it whole (or, when the service stops, a prefix).</summary>
    Unchecked,
    /// <summary>The backup must go live (unless the guest had already finished its work).</summary>
    BackupGoesLive,
    /// <summary>Exactly one node carries on: the backup live, or the primary alone, never both or neither.</summary>
    ExactlyOneCarriesOn,
    /// <summary>Nobody fails over: the fault is no failure of either node, and the pair must stay as it was.</summary>
    Nobody,
}
