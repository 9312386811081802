namespace VmFt.Guest.Loaders;

/// <summary>A kernel in memory: the start state, and how it was loaded (exactly one of the two is set).</summary>
public sealed record LoadedKernel(BootState State, LinuxBoot? Linux, MultibootBoot? Multiboot)
{
    /// <summary>One line for a person: which protocol, and what the image said about itself.</summary>
    public string Description => Linux is { } l
        ? $"Linux boot protocol {l.ProtocolVersion >> 8}.{l.ProtocolVersion & 0xFF:D2}{(l.KernelVersion.Length > 0 ? $", kernel {l.KernelVersion}" : "")}"
        : $"Multiboot ({Multiboot!.Format})";
}
