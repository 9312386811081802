namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>What a node tells the relay. Offsets are positions in the guest's output stream or the client's input stream.</summary>
public abstract record NodeToRelay(string NodeId, ulong Generation);

/// <summary>Output bytes that the log rule has released, starting at output offset <paramref name="Offset"/>.</summary>
public sealed record OutputToRelay(string NodeId, ulong Generation, ulong Offset, byte[] Data) : NodeToRelay(NodeId, Generation);

/// <summary>The node has logged, and its backup acknowledged, all client input before <paramref name="InputEnd"/>: the relay may forget it.</summary>
public sealed record InputLoggedToRelay(string NodeId, ulong Generation, ulong InputEnd) : NodeToRelay(NodeId, Generation);

/// <summary>
/// The node is the live primary of <paramref name="Generation"/>: send it input from <paramref name="InputEnd"/>; it holds output up to <paramref name="OutputEnd"/>.
/// With a network card, the same for frames: send it input frames from <see cref="FrameInputEnd"/>; it holds output frames up to <see cref="FrameOutputEnd"/>.
/// </summary>
public sealed record LiveToRelay(string NodeId, ulong Generation, ulong InputEnd, ulong OutputEnd) : NodeToRelay(NodeId, Generation)
{
    public ulong FrameInputEnd { get; init; }
    public ulong FrameOutputEnd { get; init; }
}

/// <summary>
/// The guest's output frame number <paramref name="Index"/> (its place in the guest's transmit
/// order), released by the log rule. A node that went live sends again frames the old one sent:
/// the relay keeps only the one it expects next.
/// </summary>
public sealed record FrameToRelay(string NodeId, ulong Generation, ulong Index, byte[] Frame) : NodeToRelay(NodeId, Generation);

/// <summary>The node has logged, and its backup acknowledged, every input frame before <paramref name="FrameEnd"/>: the relay may forget them.</summary>
public sealed record FramesLoggedToRelay(string NodeId, ulong Generation, ulong FrameEnd) : NodeToRelay(NodeId, Generation);

/// <summary>What the relay tells a node.</summary>
public abstract record RelayToNode;

/// <summary>Client input starting at input offset <paramref name="Offset"/> (may repeat bytes the node has seen: it keeps what is new).</summary>
public sealed record InputFromRelay(ulong Offset, byte[] Data) : RelayToNode;

/// <summary>The client has received all output before <paramref name="OutputEnd"/>.</summary>
public sealed record DeliveredFromRelay(ulong OutputEnd) : RelayToNode;

/// <summary>Input frame number <paramref name="Index"/> from the network, in the order the relay took them off the TAP (may repeat one the node has: it keeps what is new).</summary>
public sealed record FrameFromRelay(ulong Index, byte[] Frame) : RelayToNode;

/// <summary>The network has every output frame before <paramref name="FrameEnd"/>.</summary>
public sealed record FramesDeliveredFromRelay(ulong FrameEnd) : RelayToNode;

/// <summary>
/// The network has every output frame before <paramref name="From"/> and wants the rest again:
/// sent to a node that announced itself live and to one whose frame came after a hole, never in
/// answer to every frame (a node re-sends all it released from there).
/// </summary>
public sealed record FramesWantedFromRelay(ulong From) : RelayToNode;
