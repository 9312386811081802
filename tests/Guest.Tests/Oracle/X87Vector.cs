namespace VmFt.Guest.Tests.Oracle;

/// <summary>
/// One x87 differential vector: an ordinary <see cref="OracleVector"/> (registers, flags, data
/// page, code, outcome) plus the x87 state before (a seed, with edits) and after (the FNSAVE
/// image the host stored), and what the comparison may leave out.
/// </summary>
public sealed class X87Vector
{
    public OracleVector Base { get; set; } = new();

    /// <summary>Seed of <see cref="X87Values.InitialImage"/>.</summary>
    public uint StateSeed { get; set; }

    /// <summary>The 108-byte FRSTOR image the case starts from (the seeded image, possibly edited).</summary>
    public byte[] InitialImage { get; set; } = new byte[108];

    /// <summary>The 108-byte FNSAVE image after the case.</summary>
    public byte[] FinalImage { get; set; } = new byte[108];

    /// <summary>Status-word bits the SDM leaves undefined after this sequence (condition codes).</summary>
    public ushort UndefinedStatus { get; set; }

    /// <summary>Bit i: ST(i) of the final image holds a transcendental result, compared within 1 ulp.</summary>
    public byte UlpRegisters { get; set; }

    /// <summary>The final image came from the kernel's signal frame (a faulting case): its CS, DS and opcode fields are the kernel's.</summary>
    public bool FromSignalFrame { get; set; }

    /// <summary>Data-page ranges left out of the comparison (FXSAVE's SSE area: this CPU has no SSE).</summary>
    public (ushort Offset, ushort Length)[] IgnoredData { get; set; } = [];
}
