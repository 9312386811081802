namespace VmFt.Guest.Loaders;

/// <summary>
/// The outcome of <see cref="LinuxLoader.Load"/>: the start state and where everything went.
/// [KernelStart, KernelEnd) is the protected-mode kernel as loaded; the kernel decompresses itself
/// into memory up to <see cref="DecompressionEnd"/>.
/// </summary>
public sealed record LinuxBoot(
    BootState State,
    ushort ProtocolVersion,
    string KernelVersion,
    uint KernelStart,
    uint KernelEnd,
    uint DecompressionEnd,
    uint ZeroPage,
    uint CommandLineAddress,
    uint InitrdStart,
    uint InitrdSize);
