namespace VmFt.Guest.Loaders;

/// <summary>What a Multiboot kernel is given besides memory.</summary>
public sealed record MultibootOptions
{
    /// <summary>
    /// The kernel command line, passed verbatim. (QEMU's -kernel prefixes it with the kernel's file
    /// name; a caller that wants the same does so itself.)
    /// </summary>
    public string CommandLine { get; init; } = "";

    public string BootLoaderName { get; init; } = "VmFt";

    public IReadOnlyList<MultibootModule> Modules { get; init; } = [];
}
