namespace VmFt.Guest.Processor;

/// <summary>
/// An exception the guest CPU raises (#DE, #GP, #PF, ...). It unwinds the instruction that caused it
/// back to the execution loop, which restores the instruction's starting state and delivers the
/// exception through the IVT or IDT. It never escapes <see cref="Cpu.Run"/>.
/// </summary>
public sealed class CpuFault(int vector, uint errorCode, bool hasErrorCode) : Exception
{
    public int Vector { get; } = vector;
    public uint ErrorCode { get; } = errorCode;
    public bool HasErrorCode { get; } = hasErrorCode;

    public override string Message => HasErrorCode
        ? $"CPU exception {Vector} ({ExceptionVectors.Name(Vector)}), error code 0x{ErrorCode:X}"
        : $"CPU exception {Vector} ({ExceptionVectors.Name(Vector)})";
}
