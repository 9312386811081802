namespace VmFt.Guest.Machine;

/// <summary>How a <see cref="PcMachine"/> is built. Everything here is part of the initial state a backup or a replay must share.</summary>
public sealed record MachineConfiguration
{
    public const uint DefaultRamSize = 64u * 1024 * 1024;

    public uint RamSize { get; init; } = DefaultRamSize;

    /// <summary>
    /// Guest nanoseconds that pass per retired instruction: between clock samples, guest time is a
    /// function of the position. 10 ns is a 100 MIPS virtual processor.
    /// </summary>
    public ulong NanosecondsPerInstruction { get; init; } = 10;

    /// <summary>The wall-clock time the RTC shows at power-on.</summary>
    public DateTimeOffset BootTime { get; init; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Time-stamp counter frequency: RDTSC = guest time * this / 1e9.</summary>
    public ulong TscHz { get; init; } = 1_000_000_000;

    /// <summary>The virtio-blk disk at PCI 00:03.0, or null for a machine without one (its devices are then exactly as before disks existed).</summary>
    public DiskConfiguration? Disk { get; init; }

    /// <summary>The virtio-net card at PCI 00:04.0, or null for a machine without one.</summary>
    public NetworkConfiguration? Network { get; init; }
}
