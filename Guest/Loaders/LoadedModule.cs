namespace VmFt.Guest.Loaders;

/// <summary>Where a boot module landed: [Start, End) in guest RAM.</summary>
public sealed record LoadedModule(uint Start, uint End, string CommandLine);
