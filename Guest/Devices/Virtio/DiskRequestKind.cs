namespace VmFt.Guest.Devices.Virtio;

/// <summary>What a pending disk request asks the host to do (the virtio-blk request types that need the disk's contents).</summary>
public enum DiskRequestKind : byte
{
    Read = 0,
    Write = 1,
    Flush = 4,
}
