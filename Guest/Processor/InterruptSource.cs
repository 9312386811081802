namespace VmFt.Guest.Processor;

/// <summary>Where an interrupt or exception came from: it decides privilege checks and the EXT bit.</summary>
internal enum InterruptSource
{
    /// <summary>The INTR pin (or NMI): EXT = 1 in error codes, no gate DPL check.</summary>
    External,
    /// <summary>A processor-detected exception: no gate DPL check.</summary>
    Exception,
    /// <summary>INT n, INT3, INTO: the gate's DPL must be at least CPL.</summary>
    Software,
}
