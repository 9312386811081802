namespace VmFt.Guest.Loaders;

/// <summary>
/// The outcome of <see cref="MultibootLoader.Load"/>: the start state and where everything went.
/// [ImageStart, ImageEnd) covers the image in memory, bss included.
/// </summary>
public sealed record MultibootBoot(
    BootState State,
    MultibootFormat Format,
    uint ImageStart,
    uint ImageEnd,
    uint Entry,
    uint InfoAddress,
    IReadOnlyList<LoadedModule> Modules);
