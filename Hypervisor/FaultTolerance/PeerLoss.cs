using VmFt.Channel;

namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>
/// What a node does when its logging channel ends: the one rule both hosts and the simulator
/// follow. Unless this node ended the channel itself, the peer may be gone, and the node must
/// contend for the arbiter: the winner carries on alone, the loser halts. That holds even for a
/// peer that broke the protocol (it may be dying): whoever wins, exactly one node serves, while a
/// node that gave up without contending could leave none.
/// </summary>
public static class PeerLoss
{
    /// <summary>Whether a node whose channel ended with <paramref name="closure"/> goes to the arbiter.</summary>
    public static bool MustContend(ChannelClosure closure) => closure.Reason != ChannelCloseReason.LocalClose;

    /// <summary>
    /// Whether the peer closed the channel in order (a Goodbye with the normal code), as a primary
    /// does once its guest exited and the relay holds its last output. A backup that replayed to
    /// the exit may then go; after any other end the primary may have died with output the relay
    /// never got, and the backup contends and, winning, hands that output over itself.
    /// </summary>
    public static bool PrimaryFinished(ChannelClosure closure) =>
        closure.Reason == ChannelCloseReason.PeerGoodbye && closure.Code == ChannelCloseCode.Normal;
}
