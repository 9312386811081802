namespace VmFt.Guest.Loaders;

/// <summary>What a Linux kernel is given besides memory: its command line and an initial RAM disk.</summary>
public sealed record LinuxBootOptions
{
    /// <summary>The kernel command line (QEMU's -append), passed verbatim.</summary>
    public string CommandLine { get; init; } = "";

    /// <summary>The initrd's bytes (a cpio archive, possibly compressed), or null for none.</summary>
    public byte[]? Initrd { get; init; }

    /// <summary>How the initrd is named in error messages.</summary>
    public string InitrdName { get; init; } = "initrd";
}
