namespace VmFt.Guest.Machine;

/// <summary>
/// The whole state of a <see cref="PcMachine"/> at one position, in memory: CPU and device state
/// as bytes, and RAM as 4 KiB pages. A page equal to the same page of the snapshot taken before it
/// is shared rather than copied, so a series of snapshots of a guest that touches little memory
/// costs little more than one.
/// </summary>
public sealed class MachineSnapshot
{
    public const int PageSize = 4096;

    internal MachineSnapshot(ulong position, byte[] cpu, byte[] devices, byte[][] pages, MachineExitReason? pendingExit, int? exitStatus, int newPages)
    {
        Position = position;
        CpuState = cpu;
        DeviceState = devices;
        Pages = pages;
        PendingExit = pendingExit;
        ExitStatus = exitStatus;
        NewPages = newPages;
    }

    /// <summary>Instructions retired when it was taken.</summary>
    public ulong Position { get; }
    internal byte[] CpuState { get; }
    internal byte[] DeviceState { get; }
    /// <summary>RAM, page by page; arrays may be shared with other snapshots and are never written.</summary>
    public IReadOnlyList<byte[]> Pages { get; }
    internal MachineExitReason? PendingExit { get; }
    internal int? ExitStatus { get; }
    /// <summary>Pages this snapshot did not share with the one it was taken against.</summary>
    public int NewPages { get; }
    /// <summary>Bytes of CPU and device state (RAM pages are counted by whoever tracks their sharing).</summary>
    public int FixedBytes => CpuState.Length + DeviceState.Length;
}
