namespace VmFt.Guest.Processor;

/// <summary>Which data accesses a watchpoint reports (as the x86 debug registers' R/W field).</summary>
public enum WatchKind
{
    /// <summary>Stores only.</summary>
    Write,
    /// <summary>Loads only (instruction fetches excluded).</summary>
    Read,
    /// <summary>Loads and stores.</summary>
    Access,
}
