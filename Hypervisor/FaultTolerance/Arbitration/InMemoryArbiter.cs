namespace VmFt.Hypervisor.FaultTolerance.Arbitration;

/// <summary>An arbiter for nodes in one process (tests, the simulator).</summary>
public sealed class InMemoryArbiter : IArbiter
{
    private readonly Dictionary<(string, ulong), string> _owners = [];
    private readonly object _gate = new();

    public bool TryAcquire(string vmId, ulong generation, string nodeId)
    {
        lock (_gate)
        {
            if (_owners.TryGetValue((vmId, generation), out var owner)) return owner == nodeId;
            _owners[(vmId, generation)] = nodeId;
            return true;
        }
    }
}
