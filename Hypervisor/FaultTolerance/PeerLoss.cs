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
}
