namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>What a node tells the relay. Offsets are positions in the guest's output stream or the client's input stream.</summary>
public abstract record NodeToRelay(string NodeId, ulong Generation);

/// <summary>Output bytes that the log rule has released, starting at output offset <paramref name="Offset"/>.</summary>
public sealed record OutputToRelay(string NodeId, ulong Generation, ulong Offset, byte[] Data) : NodeToRelay(NodeId, Generation);

/// <summary>The node has logged, and its backup acknowledged, all client input before <paramref name="InputEnd"/>: the relay may forget it.</summary>
public sealed record InputLoggedToRelay(string NodeId, ulong Generation, ulong InputEnd) : NodeToRelay(NodeId, Generation);

/// <summary>The node is the live primary of <paramref name="Generation"/>: send it input from <paramref name="InputEnd"/>; it holds output up to <paramref name="OutputEnd"/>.</summary>
public sealed record LiveToRelay(string NodeId, ulong Generation, ulong InputEnd, ulong OutputEnd) : NodeToRelay(NodeId, Generation);

/// <summary>What the relay tells a node.</summary>
public abstract record RelayToNode;

/// <summary>Client input starting at input offset <paramref name="Offset"/> (may repeat bytes the node has seen: it keeps what is new).</summary>
public sealed record InputFromRelay(ulong Offset, byte[] Data) : RelayToNode;

/// <summary>The client has received all output before <paramref name="OutputEnd"/>.</summary>
public sealed record DeliveredFromRelay(ulong OutputEnd) : RelayToNode;
