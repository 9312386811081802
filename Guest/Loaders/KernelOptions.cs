namespace VmFt.Guest.Loaders;

/// <summary>What a kernel is booted with, whichever boot protocol its image turns out to use.</summary>
public sealed record KernelOptions
{
    /// <summary>The kernel command line (QEMU's -append).</summary>
    public string CommandLine { get; init; } = "";

    /// <summary>An initial RAM disk (QEMU's -initrd): Linux kernels only.</summary>
    public byte[]? Initrd { get; init; }

    public string InitrdName { get; init; } = "initrd";
}
