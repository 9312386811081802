namespace VmFt.Guest.Processor;

/// <summary>The segment registers, numbered as the x86 encodes them in ModRM and prefixes.</summary>
public enum SegmentRegister
{
    ES = 0,
    CS = 1,
    SS = 2,
    DS = 3,
    FS = 4,
    GS = 5,
}
