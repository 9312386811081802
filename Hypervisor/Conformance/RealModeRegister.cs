namespace VmFt.Hypervisor.Conformance;

/// <summary>The 16-bit register file a real-mode single-step vector describes, in the vectors' key order.</summary>
public enum RealModeRegister
{
    Ax, Bx, Cx, Dx, Cs, Ss, Ds, Es, Sp, Bp, Si, Di, Ip, Flags,
}
