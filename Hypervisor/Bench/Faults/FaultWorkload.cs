namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>What the guest does during a run.</summary>
public enum FaultWorkload
{
    /// <summary>The kvstore guest under the open-loop client load generator.</summary>
    Kvstore,
    /// <summary>The cpubench guest: integer work, little I/O, output at the start and the end.</summary>
    Cpubench,
    /// <summary>The kvstore guest with a connected client that sends nothing: timer interrupts only.</summary>
    Idle,
    /// <summary>
    /// The netecho guest on a network card, its TAP in a namespace the run makes and deletes: raw
    /// Ethernet frames at the offered rate, each answered by one frame; judged on a capture of the TAP.
    /// </summary>
    Net,
}
