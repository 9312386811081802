namespace VmFt.Guest.Loaders;

/// <summary>How a Multiboot kernel's bytes were placed in memory.</summary>
public enum MultibootFormat
{
    /// <summary>ELF32 program headers (PT_LOAD segments at their physical addresses).</summary>
    Elf,
    /// <summary>The header's address fields (flags bit 16, the "a.out kludge").</summary>
    AoutKludge,
}
