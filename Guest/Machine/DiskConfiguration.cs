namespace VmFt.Guest.Machine;

/// <summary>
/// The machine's virtio-blk disk as the guest sees it: its size in 512-byte sectors and whether it
/// is read-only. The contents are not part of the machine: the host reads and writes them and hands
/// the results in as events.
/// </summary>
public sealed record DiskConfiguration(ulong SectorCount, bool ReadOnly)
{
    public const int SectorSize = 512;
}
