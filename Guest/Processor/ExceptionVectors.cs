namespace VmFt.Guest.Processor;

/// <summary>The architectural exception vectors.</summary>
public static class ExceptionVectors
{
    public const int DivideError = 0, Debug = 1, Nmi = 2, Breakpoint = 3, Overflow = 4, BoundRange = 5,
        InvalidOpcode = 6, DeviceNotAvailable = 7, DoubleFault = 8, InvalidTss = 10, SegmentNotPresent = 11,
        StackFault = 12, GeneralProtection = 13, PageFault = 14, FpuError = 16, AlignmentCheck = 17,
        MachineCheck = 18, SimdError = 19;

    public static string Name(int vector) => vector switch
    {
        DivideError => "#DE",
        Debug => "#DB",
        Nmi => "NMI",
        Breakpoint => "#BP",
        Overflow => "#OF",
        BoundRange => "#BR",
        InvalidOpcode => "#UD",
        DeviceNotAvailable => "#NM",
        DoubleFault => "#DF",
        InvalidTss => "#TS",
        SegmentNotPresent => "#NP",
        StackFault => "#SS",
        GeneralProtection => "#GP",
        PageFault => "#PF",
        FpuError => "#MF",
        AlignmentCheck => "#AC",
        MachineCheck => "#MC",
        SimdError => "#XM",
        _ => $"INT {vector}",
    };

    /// <summary>Exceptions that push an error code in protected mode.</summary>
    public static bool HasErrorCode(int vector) =>
        vector is DoubleFault or InvalidTss or SegmentNotPresent or StackFault or GeneralProtection or PageFault or AlignmentCheck;
}
