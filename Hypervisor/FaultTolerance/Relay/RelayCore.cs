namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>
/// The clients' network, transport-agnostic: numbers every input byte and every output byte,
/// delivers each output byte to the client once and in order whichever node sends it, keeps client
/// input until the live node reports it logged and acknowledged, and follows whichever node
/// announces itself live in the newest generation.
/// </summary>
public sealed class RelayCore
{
    private readonly List<byte> _input = [];   // client input not yet confirmed logged
    private ulong _inputStart;                  // input offset of _input[0]
    private ulong _delivered;                   // output bytes given to the client
    private readonly List<(string Node, RelayToNode Message)> _toNodes = [];

    /// <summary>The node name in <see cref="TakeNodeMessages"/> that means "every node".</summary>
    public const string Broadcast = "*";

    public string? LiveNode { get; private set; }
    public ulong Generation { get; private set; }
    public ulong OutputDelivered => _delivered;

    /// <summary>Output for the client, in order, each byte once.</summary>
    public event Action<ReadOnlyMemory<byte>>? ClientOutput;

    public List<(string Node, RelayToNode Message)> TakeNodeMessages()
    {
        var batch = new List<(string, RelayToNode)>(_toNodes);
        _toNodes.Clear();
        return batch;
    }

    /// <summary>Bytes the client typed.</summary>
    public void OnClientInput(ReadOnlySpan<byte> data)
    {
        ulong offset = _inputStart + (ulong)_input.Count;
        _input.AddRange(data.ToArray());
        if (LiveNode is not null) _toNodes.Add((LiveNode, new InputFromRelay(offset, data.ToArray())));
    }

    public void OnNode(NodeToRelay message)
    {
        switch (message)
        {
            // A new live node, or the live one again after its connection to the relay broke (what
            // was in flight on the old connection is lost either way).
            case LiveToRelay live when live.Generation > Generation || (LiveNode is null && live.Generation >= Generation)
                                       || (live.NodeId == LiveNode && live.Generation == Generation):
                LiveNode = live.NodeId;
                Generation = live.Generation;
                // Re-send every input byte the node has not logged, and tell it what the client has.
                if (live.InputEnd > _inputStart) Trim(live.InputEnd);
                _toNodes.Add((live.NodeId, new DeliveredFromRelay(_delivered)));
                if (_input.Count > 0)
                    _toNodes.Add((live.NodeId, new InputFromRelay(_inputStart, _input.ToArray())));
                break;
            case OutputToRelay output when output.NodeId == LiveNode && output.Generation == Generation:
                ulong end = output.Offset + (ulong)output.Data.Length;
                if (output.Offset <= _delivered && end > _delivered)
                {
                    var fresh = output.Data.AsMemory((int)(_delivered - output.Offset));
                    _delivered = end;
                    ClientOutput?.Invoke(fresh);
                    // Every node may drop what the client now has (the backup keeps a copy too).
                    _toNodes.Add((Broadcast, new DeliveredFromRelay(_delivered)));
                }
                else if (output.Offset > _delivered)
                {
                    // A hole: ask for everything from what the client has.
                    _toNodes.Add((output.NodeId, new DeliveredFromRelay(_delivered)));
                }
                break;
            case InputLoggedToRelay logged when logged.NodeId == LiveNode && logged.Generation == Generation:
                Trim(logged.InputEnd);
                break;
            // Anything from a node that is not the live one of the current generation is stale: ignored.
        }
    }

    private void Trim(ulong inputEnd)
    {
        int drop = (int)Math.Min(inputEnd - _inputStart, (ulong)_input.Count);
        if (drop <= 0) return;
        _input.RemoveRange(0, drop);
        _inputStart += (ulong)drop;
    }
}
