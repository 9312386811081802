namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>How a node host ended; the process exit code follows from it.</summary>
public enum NodeExit
{
    /// <summary>The guest exited (on this node, or on the primary that this backup followed).</summary>
    GuestExited = 0,
    /// <summary>Stopped from outside (Ctrl-C, a test).</summary>
    Stopped = 0,
    /// <summary>The peer was lost and the other node won the arbiter: this node halted.</summary>
    Halted = 3,
    /// <summary>The logging channel never came up (refused: wrong secret, another VM, a broken handshake).</summary>
    ChannelFailed = 1,
}
