namespace VmFt.Hypervisor.Conformance;

/// <summary>
/// One single-instruction vector: the state before, the bytes, and the state the real processor
/// reached when the HLT after the instruction (or after its exception handler) executed.
/// </summary>
public sealed class SingleStepTest
{
    public const int RegisterCount = 14;

    /// <summary>RAM addresses lie below this: FFFF:FFFF with A20 on is 0x10FFEF, the highest real mode reaches.</summary>
    public const uint AddressLimit = 0x110000;

    public required string Name { get; init; }

    /// <summary>1-based line of the vector in its file, so a report can point at it.</summary>
    public required int Line { get; init; }

    public required byte[] Bytes { get; init; }

    /// <summary>Indexed by <see cref="RealModeRegister"/>.</summary>
    public required ushort[] InitialRegisters { get; init; }

    /// <summary>Initial registers overlaid with the ones the vector lists as changed: every register's expected value.</summary>
    public required ushort[] FinalRegisters { get; init; }

    public required (uint Address, byte Value)[] InitialRam { get; init; }

    /// <summary>The RAM bytes the vector lists as changed.</summary>
    public required (uint Address, byte Value)[] FinalRam { get; init; }

    /// <summary>The vector that fired during the instruction, or -1.</summary>
    public int ExceptionVector { get; init; } = -1;

    public ushort Initial(RealModeRegister r) => InitialRegisters[(int)r];

    public ushort Final(RealModeRegister r) => FinalRegisters[(int)r];
}
