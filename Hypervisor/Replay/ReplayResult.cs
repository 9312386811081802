using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.Replay;

/// <summary>How a replay ended: where, with which state hash, how many checkpoints agreed.</summary>
public sealed record ReplayResult(ulong Position, ulong StateHash, int CheckpointsVerified, int EventsApplied, MachineExitReason? ExitReason, int? ExitStatus);
