namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>
/// The clients' network, transport-agnostic: numbers every input byte and every output byte,
/// delivers each output byte to the client once and in order whichever node sends it, keeps client
/// input until the live node reports it logged and acknowledged, and follows whichever node
/// announces itself live in the newest generation.
/// <para>With a network (<see cref="HasNetwork"/>) the same for frames, a second stream beside the
/// bytes: every frame from the network gets the next input number and is kept until the live node
/// reports it logged and acknowledged; every output frame carries its number in the guest's
/// transmit order, and only the next one expected goes on the network, so a node that went live
/// and sends again what the old one sent puts nothing on it twice.</para>
/// </summary>
public sealed class RelayCore
{
    private readonly List<byte> _input = [];   // client input not yet confirmed logged
    private ulong _inputStart;                  // input offset of _input[0]
    private ulong _delivered;                   // output bytes given to the client
    private readonly List<(string Node, RelayToNode Message)> _toNodes = [];
    private readonly List<byte[]> _frameInput = [];   // network frames not yet confirmed logged
    private ulong _frameInputStart;                    // number of _frameInput[0]
    private ulong _framesDelivered;                    // output frames put on the network
    private ulong? _framesAsked;                       // the From of the last FramesWanted (one per hole)

    /// <summary>Input frames the relay keeps for the live node at most (a node that logs nothing, or none live): beyond, the network's loss, counted.</summary>
    public const int MaxUnloggedFrames = 1024;

    /// <summary>There is a network (a TAP) behind the relay: frames are numbered and forwarded.</summary>
    public bool HasNetwork { get; init; }

    /// <summary>Output frames put on the network, each once: the next one's number.</summary>
    public ulong FramesDelivered => _framesDelivered;
    /// <summary>Output frames a node sent whose number the network already had: dropped.</summary>
    public ulong DuplicateFramesDropped { get; private set; }
    /// <summary>Input frames dropped because <see cref="MaxUnloggedFrames"/> were waiting, or too long for any card.</summary>
    public ulong InputFramesDropped { get; private set; }
    /// <summary>Input frames numbered so far.</summary>
    public ulong FrameInputEnd => _frameInputStart + (ulong)_frameInput.Count;

    /// <summary>Output frames for the network, in the guest's transmit order, each once.</summary>
    public event Action<byte[]>? NetworkOutput;

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

    /// <summary>A frame from the network for the guest.</summary>
    public void OnNetworkFrame(byte[] frame)
    {
        if (!HasNetwork) return;
        if (frame.Length > Guest.Devices.Virtio.VirtioNet.MaxFrameLength || _frameInput.Count >= MaxUnloggedFrames)
        {
            InputFramesDropped++;
            return;
        }
        ulong index = FrameInputEnd;
        _frameInput.Add(frame);
        if (LiveNode is not null) _toNodes.Add((LiveNode, new FrameFromRelay(index, frame)));
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
                if (HasNetwork)
                {
                    // The same for frames: every one it has not logged again, and all it released from what the network has.
                    TrimFrames(live.FrameInputEnd);
                    _framesAsked = _framesDelivered;
                    _toNodes.Add((live.NodeId, new FramesWantedFromRelay(_framesDelivered)));
                    for (int i = 0; i < _frameInput.Count; i++)
                        _toNodes.Add((live.NodeId, new FrameFromRelay(_frameInputStart + (ulong)i, _frameInput[i])));
                }
                break;
            case FrameToRelay frame when HasNetwork && frame.NodeId == LiveNode && frame.Generation == Generation:
                if (frame.Index == _framesDelivered)
                {
                    _framesDelivered++;
                    NetworkOutput?.Invoke(frame.Frame);
                    _toNodes.Add((Broadcast, new FramesDeliveredFromRelay(_framesDelivered)));
                }
                else if (frame.Index < _framesDelivered)
                {
                    DuplicateFramesDropped++; // a new primary sending again what the old one delivered
                }
                else if (_framesAsked != _framesDelivered)
                {
                    // A hole (frames lost with a connection): ask once for everything from there.
                    _framesAsked = _framesDelivered;
                    _toNodes.Add((frame.NodeId, new FramesWantedFromRelay(_framesDelivered)));
                }
                break;
            case FramesLoggedToRelay logged when HasNetwork && logged.NodeId == LiveNode && logged.Generation == Generation:
                TrimFrames(logged.FrameEnd);
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

    private void TrimFrames(ulong frameEnd)
    {
        if (frameEnd <= _frameInputStart) return;
        int drop = (int)Math.Min(frameEnd - _frameInputStart, (ulong)_frameInput.Count);
        _frameInput.RemoveRange(0, drop);
        _frameInputStart += (ulong)drop;
    }

    private void Trim(ulong inputEnd)
    {
        int drop = (int)Math.Min(inputEnd - _inputStart, (ulong)_input.Count);
        if (drop <= 0) return;
        _input.RemoveRange(0, drop);
        _inputStart += (ulong)drop;
    }
}
