namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>The first frame a node sends on a relay connection: who it is.</summary>
public sealed record NodeHello(string NodeId);
