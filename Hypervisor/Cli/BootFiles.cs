namespace VmFt.Hypervisor.Cli;

/// <summary>What a machine was booted from: the kernel, its initrd (Linux only) and its command line.</summary>
public sealed record BootFiles(byte[] Image, string ImageName, byte[]? Initrd, string? InitrdName, string CommandLine);
