namespace VmFt.Guest.Loaders;

/// <summary>A boot module handed to a Multiboot kernel (an initrd, a config file...).</summary>
public sealed record MultibootModule(string Name, byte[] Data, string CommandLine);
