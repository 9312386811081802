namespace VmFt.Guest.Processor.X87;

/// <summary>
/// What one x87 operation needs from the control word and what it reports back: the rounding
/// and precision controls, the exception masks, and the exceptions it raised (status-word bit
/// positions) plus <see cref="RoundedUp"/> for C1.
/// </summary>
internal struct FpContext
{
    // Exception flags, as bits 0-6 of the status word.
    public const int IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32, SF = 64;
    public const int ExceptionMask = 0x3F;
    /// <summary>C1's bit in the status word: the result's magnitude was rounded up.</summary>
    public const int RoundedUp = 0x200;

    /// <summary>RC: 0 to nearest (even), 1 down (toward -inf), 2 up (toward +inf), 3 toward zero.</summary>
    public int Rounding;
    /// <summary>Significand bits the precision control allows (24, 53 or 64) for the operations it affects.</summary>
    public int Precision;
    /// <summary>The control word's mask bits 0-5: a set bit masks that exception.</summary>
    public int Masks;
    public int Flags;
    /// <summary>A memory source operand was a single or double denormal: DE is raised once NaNs are ruled out, as for a register operand.</summary>
    public bool SourceDenormal;

    public FpContext(ushort controlWord)
    {
        Masks = controlWord & ExceptionMask;
        Rounding = (controlWord >> 10) & 3;
        Precision = ((controlWord >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 }; // 1 is reserved: the P6 treats it as 64
        Flags = 0;
    }

    public readonly bool Masked(int flag) => (Masks & flag) != 0;

    /// <summary>An unmasked invalid-operation, denormal or zero-divide exception: the operation stops and stores nothing.</summary>
    public readonly bool Stopped => (Flags & ~Masks & (IE | DE | ZE)) != 0;
}
