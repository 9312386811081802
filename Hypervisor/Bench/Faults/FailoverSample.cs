namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// One failover of a run with several (the repair scenarios), in milliseconds: the client's last byte
/// from the node killed to its first from the node that went live, the kill to that node declaring
/// its primary dead, and that to its first output. Null where the run did not show it.
/// </summary>
public sealed record FailoverSample(string Node, ulong Generation, double? FailoverMs, double? DetectionMs, double? DrainMs);
