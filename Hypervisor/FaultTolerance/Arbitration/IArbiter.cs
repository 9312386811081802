namespace VmFt.Hypervisor.FaultTolerance.Arbitration;

/// <summary>
/// The atomic test-and-set that prevents split brain: for one VM and one generation, the first
/// node to ask wins, for ever; every other node loses and must halt. A node asking again gets the
/// same answer. A new generation (after a repair) starts a fresh contest.
/// </summary>
public interface IArbiter
{
    /// <summary>True when <paramref name="nodeId"/> holds (or now takes) the right to be the only live node of <paramref name="vmId"/> in <paramref name="generation"/>.</summary>
    bool TryAcquire(string vmId, ulong generation, string nodeId);
}
