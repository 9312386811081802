using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// A snapshot of a replay session and the index of the first logged event not applied in it.
/// Pinned ones (position 0, <c>snapshot</c> taken by hand) survive thinning; one from the recording
/// carries the hash its checkpoint recorded, checked the first time it is restored.
/// </summary>
internal sealed record SnapshotEntry(MachineSnapshot Snapshot, int NextEvent, bool Pinned, ulong? ExpectedHash = null)
{
    public bool Verified { get; set; }
}
