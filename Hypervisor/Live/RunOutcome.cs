using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.Live;

/// <summary>How a run ended, and the figures worth printing.</summary>
public sealed record RunOutcome(MachineExitReason Reason, int? GuestStatus, ulong Instructions, TimeSpan Elapsed, bool InstructionLimitReached)
{
    public double Mips => Elapsed.TotalSeconds > 0 ? Instructions / Elapsed.TotalSeconds / 1e6 : 0;
}
