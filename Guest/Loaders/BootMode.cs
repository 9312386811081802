namespace VmFt.Guest.Loaders;

/// <summary>How the CPU is to be started once an image is in memory.</summary>
public enum BootMode
{
    /// <summary>The processor's own power-on state (real mode at F000:FFF0, CS base 0xFFFF0000).</summary>
    PowerOn,
    /// <summary>Real mode at <see cref="BootState.CodeSelector"/>:<see cref="BootState.Eip"/>.</summary>
    Real,
    /// <summary>32-bit protected mode, flat 4 GiB ring-0 segments, paging off.</summary>
    FlatProtected,
}
