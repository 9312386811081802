using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Live;
using VmFt.ReplayLog;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.FaultTolerance.Primary;

/// <summary>
/// The live node: runs the guest on input from the relay, logs every nondeterministic event for
/// its backup, and applies the output rule: output produced up to a position is released to the
/// relay only once the backup has acknowledged the log up to that position. Input is reported as
/// logged to the relay only once acknowledged too, so the relay keeps (and re-sends after a
/// failover) everything the backup might not have.
/// <para>Transport-agnostic: a host feeds it messages and ships what it produces.</para>
/// </summary>
public sealed class PrimaryNode : IEventSink
{
    private readonly PcMachine _machine;
    private readonly Recorder _recorder;
    private readonly OutputStream _output;
    private readonly List<LogEvent> _outgoingLog = [];
    private readonly List<NodeToRelay> _toRelay = [];
    // Output markers not yet acknowledged: (marker sequence, output end).
    private readonly Queue<(ulong Sequence, ulong OutputEnd)> _heldOutput = new();
    // Input events not yet acknowledged: (event sequence, input end).
    private readonly Queue<(ulong Sequence, ulong InputEnd)> _unackedInput = new();
    private readonly List<byte> _pendingInput = [];
    private ulong _pendingInputStart;
    private bool _fedLastStep; // the previous step gave the guest input: the burst's clock sample is taken
    private ulong _released;
    private ulong _inputLogged;
    private ulong _acked;
    private ulong _lastMarkedOutput;
    // Disk requests whose issue the log covers: (highest request id, sequence of the event that covers it).
    private readonly Queue<(ulong RequestId, ulong Sequence)> _diskCover = new();
    private ulong _diskCoveredThrough;
    private ulong _diskAckedThrough;
    // The network card's two frame streams, beside the serial bytes (null: the guest has no card).
    private readonly FrameStream? _frames;
    // Output frames not yet acknowledged: (covering event sequence, frame end).
    private readonly Queue<(ulong Sequence, ulong FrameEnd)> _heldFrames = new();
    // Input frames logged and not yet acknowledged: (event sequence, frame end).
    private readonly Queue<(ulong Sequence, ulong FrameEnd)> _unackedFrames = new();
    private readonly Queue<byte[]> _pendingFrames = new();
    private ulong _pendingFramesStart;
    private ulong _framesReleased;
    private ulong _framesLogged;
    private ulong _lastMarkedFrames;

    /// <summary>Instructions between checkpoints unless told otherwise (the same as <c>vmft record</c>).</summary>
    public const ulong DefaultCheckpointInterval = 50_000_000;

    public string NodeId { get; }
    /// <summary>
    /// The arbiter generation this node serves in: 0 for the first primary, N for the node that won
    /// generation N. Every message to the relay carries it; the relay follows the newest.
    /// </summary>
    public ulong Generation { get; private set; }
    public PcMachine Machine => _machine;
    /// <summary>Running without a backup (it died and this node won the arbiter): output is released at once.</summary>
    public bool Alone { get; private set; }
    public MachineExitReason? Exited { get; private set; }
    public ulong InputEnd => _pendingInputStart + (ulong)_pendingInput.Count;

    /// <summary>Input frames this node has (logged or waiting): the next frame's number in the network's input stream.</summary>
    public ulong FrameInputEnd => _pendingFramesStart + (ulong)_pendingFrames.Count;

    /// <summary>Output frames released to the relay so far.</summary>
    public ulong FramesReleased => _framesReleased;

    /// <summary>The guest's transmitted frames (null without a network card).</summary>
    public FrameStream? Frames => _frames;

    private bool FramesReady => _pendingFrames.Count > 0 && _machine.Network is { CanReceive: true };

    /// <summary>Client input is waiting and the guest's serial port (or its network card) has room for some of it now.</summary>
    public bool InputReady => (_pendingInput.Count > 0 && _machine.SerialInputSpace > 0) || FramesReady;
    public ulong SliceInstructions { get; init; } = 20_000;

    /// <summary>
    /// Realtime: the host clock (from the guest time of the first step) is sampled and logged at
    /// every step, and an idle guest waits for it (<see cref="IdleUntil"/>). Virtual: an idle guest
    /// skips to its next timer. The rules are <see cref="SliceClock"/>'s, as for a solo run.
    /// </summary>
    public ClockMode Clock { get; init; } = ClockMode.Virtual;

    private SliceClock? _sliceClock;
    private SliceClock TimeRules => _sliceClock ??= new SliceClock(_machine, _recorder, Clock);

    /// <summary>After a step that left the guest idle in realtime mode: the guest time it waits for (ulong.MaxValue: only input).</summary>
    public ulong IdleUntil => _sliceClock?.IdleUntil ?? 0;

    /// <summary>Host time until the idle guest's timer is due, at most a second (realtime mode, after a step that left it idle).</summary>
    public TimeSpan UntilTimer
    {
        get
        {
            ulong until = IdleUntil;
            if (until == 0 || until == ulong.MaxValue) return TimeSpan.MaxValue;
            ulong now = TimeRules.HostNow;
            return until > now ? TimeSpan.FromTicks((long)Math.Min((until - now) / 100, 10_000_000)) : TimeSpan.Zero;
        }
    }
    /// <summary>
    /// The shared disk's host side, when the guest has a disk. Only this node touches the file.
    /// Reads are performed at once (their data goes to the backup in the log); a write or a flush
    /// is output: it reaches the file only once the backup acknowledged log that shows the guest
    /// issued it, so a backup that goes live never finds on the disk a write its guest never made,
    /// and reissues every request the guest had issued but not seen completed.
    /// </summary>
    public Storage.DiskService? Disk { get; init; }

    /// <summary>
    /// The disk is shared with the backup (the default): a write waits until the backup has the
    /// log of its issue. With a disk of its own on each node (false), the backup performs the
    /// writes its replay completes on its own copy, so the primary's writes are no output and go
    /// at once.
    /// </summary>
    public bool DiskShared { get; init; } = true;

    /// <summary>A disk request can be performed now (the host should step again rather than wait).</summary>
    public bool DiskReady => Disk is { HasWork: true } disk && NextDiskRequestMayGo(disk);

    /// <summary>
    /// Something waits for the backup's next acknowledgement: output or frames held by the output rule,
    /// or a disk request (a write may not go before its issue is acknowledged). The host ships the log
    /// at once then; log nothing waits for may wait a little and leave with the next.
    /// </summary>
    public bool AwaitsAcknowledgement => !Alone && (_heldOutput.Count > 0 || _heldFrames.Count > 0 || Disk is { HasWork: true });

    /// <summary>Highest log sequence the backup acknowledged.</summary>
    public ulong Acked => _acked;

    /// <summary>
    /// Breaks the output rule on purpose (output leaves before the backup has the log): only for
    /// proving that the fault-injection checker catches the violation.
    /// </summary>
    internal bool ReleaseBeforeAckForTesting { get; set; }

    /// <summary>
    /// Breaks the disk's output rule on purpose (a write reaches the disk before the backup has the
    /// log of its issue): only for proving that the simulator's disk check catches it.
    /// </summary>
    internal bool PerformWritesBeforeAckForTesting { get; set; }
    public ulong LogEnd => _recorder.NextSequence - 1;

    /// <summary>Output released to the relay so far.</summary>
    public ulong Released => _released;

    /// <summary>How much output the relay has confirmed it holds (for its client).</summary>
    public ulong RelayHas => _output.Start;

    /// <summary>The relay holds every byte released: a node whose guest exited may go.</summary>
    public bool RelayHasAllOutput => _output.Start >= _released && (_frames is null || _frames.Start >= _framesReleased);

    /// <param name="inputEnd">Client input already applied to the machine (the log's end, for a node that was a backup).</param>
    /// <param name="checkpointInterval">
    /// Instructions between state-hash checkpoints in the log. A checkpoint hashes all of RAM
    /// (about 10 ms for 64 MiB, on the primary and again on the backup), so the default, as for
    /// recordings, keeps that near 2% of a busy guest's time; a divergence still shows within it.
    /// </param>
    /// <param name="frames">The guest's transmitted frames so far (a node that was a backup: what its replay produced); null: none yet.</param>
    /// <param name="frameInputEnd">Input frames already applied to the machine (the log's, for a node that was a backup).</param>
    public PrimaryNode(string nodeId, ulong generation, PcMachine machine, OutputStream output, ulong firstSequence, ulong inputEnd, ulong checkpointInterval = DefaultCheckpointInterval,
        FrameStream? frames = null, ulong frameInputEnd = 0)
    {
        NodeId = nodeId;
        Generation = generation;
        _machine = machine;
        _output = output;
        _released = output.End; // whatever a former backup produced was the old primary's to release
        _lastMarkedOutput = output.End;
        _acked = firstSequence - 1;
        _pendingInputStart = inputEnd;
        _inputLogged = inputEnd; // a former backup's input is in the log it replayed
        _recorder = new Recorder(machine, this, firstSequence) { CheckpointInterval = checkpointInterval };
        machine.SerialOutput = _output.Append;
        if (machine.Network is not null)
        {
            // Numbered in the guest's transmit order, from where the old primary's log left them.
            _frames = frames ?? new FrameStream();
            machine.NetworkOutput = _frames.Append;
            _framesReleased = _lastMarkedFrames = _frames.End;
            _pendingFramesStart = _framesLogged = frameInputEnd;
        }
        _toRelay.Add(Announcement());
    }

    /// <summary>
    /// A relay connection was (re)established: announce this node again. Messages lost with the old
    /// connection come back: the relay re-sends all input not yet logged and says how much output
    /// the client has, and this node re-sends released output from there.
    /// </summary>
    public void RelayReconnected() => _toRelay.Add(Announcement());

    // The input end announced is what the backup has acknowledged, never merely what arrived: the
    // relay forgets input up to it, and input only this node holds would die with it.
    private LiveToRelay Announcement() => new(NodeId, Generation, _inputLogged, _released) { FrameInputEnd = _framesLogged, FrameOutputEnd = _framesReleased };

    void IEventSink.Append(LogEvent logEvent) => _outgoingLog.Add(logEvent);

    /// <summary>Log events to ship to the backup since the last call.</summary>
    public List<LogEvent> TakeLog()
    {
        var batch = new List<LogEvent>(_outgoingLog);
        _outgoingLog.Clear();
        return batch;
    }

    public List<NodeToRelay> TakeRelayMessages()
    {
        var batch = new List<NodeToRelay>(_toRelay);
        _toRelay.Clear();
        return batch;
    }

    public void OnAck(ulong sequence)
    {
        if (sequence <= _acked) return;
        _acked = Math.Min(sequence, LogEnd);
        Release();
    }

    /// <summary>
    /// The backup is gone and this node won the arbiter for <paramref name="generation"/> (or, as a
    /// backup that just went live, already serves in it): from now on nothing waits for acks, and
    /// the relay hears of the generation.
    /// </summary>
    public void ContinueAlone(ulong generation)
    {
        Alone = true;
        _acked = LogEnd;
        if (generation != Generation)
        {
            if (generation < Generation) throw new ArgumentOutOfRangeException(nameof(generation), $"generation {generation} is older than {Generation}");
            Generation = generation;
            _toRelay.Add(Announcement());
        }
        Release();
    }

    /// <summary>
    /// A backup joins this node, which runs alone, between two steps (the guest stands still): a
    /// checkpoint here is the first event of its log, and from now on output waits for its acks.
    /// Returns what the backup needs beside RAM.
    /// </summary>
    /// <param name="rounds">Pre-copy rounds it took (for the backup's report).</param>
    public JoinFinal AttachBackup(uint rounds)
    {
        if (!Alone) throw new InvalidOperationException("a backup is attached already");
        if (Exited is not null) throw new InvalidOperationException("the guest has exited");
        if (_frames is not null) throw new InvalidOperationException("a backup cannot join a guest with a network card yet (the join state carries no frame streams)");
        _outgoingLog.Clear(); // log of the time alone: its effects are in the state
        ulong first = _recorder.NextSequence;
        _recorder.MaybeCheckpoint(force: true);
        ulong hash = ((CheckpointEvent)_outgoingLog[^1]).StateHash;
        var (cpu, devices) = _machine.SaveStateBytes();
        Alone = false;
        _acked = first - 1;
        return new JoinFinal(_machine.Cpu.Position, first, Generation, _pendingInputStart, hash, rounds,
            _output.Start, _output.Slice(_output.Start, _output.End), cpu, devices);
    }

    public void OnRelay(RelayToNode message)
    {
        switch (message)
        {
            case InputFromRelay input:
                // Keep only the bytes beyond what this node already has.
                ulong end = InputEnd;
                ulong dataEnd = input.Offset + (ulong)input.Data.Length;
                if (input.Offset <= end && dataEnd > end)
                    _pendingInput.AddRange(input.Data.AsSpan((int)(end - input.Offset)).ToArray());
                break;
            case DeliveredFromRelay delivered:
                _output.Confirm(delivered.OutputEnd);
                // The relay may have lost bytes (it restarted or followed us late): re-send from there.
                if (delivered.OutputEnd < _released)
                    _toRelay.Add(new OutputToRelay(NodeId, Generation, delivered.OutputEnd, _output.Slice(delivered.OutputEnd, _released)));
                break;
            case FrameFromRelay frame when _frames is not null:
                // Only the next number: the relay sends in order, so anything else is a repeat.
                // A frame no card takes would not fit the log either: the network's loss.
                if (frame.Index == FrameInputEnd)
                {
                    if (frame.Frame.Length <= Guest.Devices.Virtio.VirtioNet.MaxFrameLength) _pendingFrames.Enqueue(frame.Frame);
                    else _pendingFrames.Enqueue([]);
                }
                break;
            case FramesDeliveredFromRelay delivered when _frames is not null:
                _frames.Confirm(delivered.FrameEnd);
                break;
            case FramesWantedFromRelay wanted when _frames is not null:
                // The relay has every frame before From and asks for the rest again (it followed
                // this node late, restarted, or saw a hole): the frames it has are dropped by number.
                _frames.Confirm(wanted.From);
                for (ulong i = Math.Max(wanted.From, _frames.Start); i < _framesReleased; i++)
                    _toRelay.Add(new FrameToRelay(NodeId, Generation, i, _frames.Get(i)!));
                break;
        }
    }

    /// <summary>Runs one slice of the guest. Returns false once the guest has stopped.</summary>
    public bool Step()
    {
        if (Exited is not null) return false;
        // Input that finds the guest waiting gets a clock sample, so the guest sees when it came;
        // the rest of the same burst follows a step later, microseconds on, and a sample per byte
        // was a third of the log (a UART without FIFO takes one byte a step). Frames get one too.
        TimeRules.BeginSlice(always: (_pendingInput.Count > 0 && !_fedLastStep) || FramesReady);
        _fedLastStep = false;
        FeedInput();
        FeedFrames();
        Disk?.Service(_recorder, r => MayWrite(r.Id));
        ulong position = _machine.Cpu.Position;
        var reason = _machine.RunUntil(position + SliceInstructions);
        CoverDiskRequests();
        ulong? covered = null;
        if (_output.End != _lastMarkedOutput)
        {
            ulong sequence = _recorder.OutputMarker(_output.End);
            _heldOutput.Enqueue((sequence, _output.End));
            _lastMarkedOutput = _output.End;
            covered = sequence;
        }
        if (_frames is not null && _frames.End != _lastMarkedFrames)
        {
            // Frames sent in this step wait for the event that ends it: the serial marker if there
            // is one, otherwise a beacon (the marker's number counts serial bytes only).
            covered ??= LogBeacon();
            _heldFrames.Enqueue((covered.Value, _frames.End));
            _lastMarkedFrames = _frames.End;
        }
        if (!Alone) _recorder.MaybeCheckpoint(); // alone, no backup will ever check them
        switch (reason)
        {
            case MachineExitReason.PositionReached:
                break;
            case MachineExitReason.Idle:
                // A guest waiting for its disk: no skip ahead in virtual time while a request can go.
                if (!DiskReady) TimeRules.Idle(); // realtime: the host waits, the next step samples the clock
                break;
            default:
                Exited = reason;
                _recorder.MaybeCheckpoint(force: true);
                _recorder.Exit(reason, _machine.ExitStatus);
                break;
        }
        // A step that logged nothing still tells the backup how far it may replay: without these
        // beacons a busy guest with no input would keep the backup a whole checkpoint behind.
        if (_outgoingLog.Count == 0 && Exited is null && _machine.Cpu.Position != position) _recorder.Beacon();
        if (Alone) _acked = LogEnd;
        Release();
        return Exited is null;
    }

    /// <summary>
    /// Requests the guest issued in this step are covered by the log's next event: a beacon at this
    /// position (the guest issued them before it), so once the backup acknowledged it, the backup
    /// has them pending too.
    /// </summary>
    private void CoverDiskRequests()
    {
        if (Disk is null || Disk.Device.Pending.Count == 0) return;
        ulong newest = Disk.Device.Pending[^1].Id;
        if (newest <= _diskCoveredThrough) return;
        _diskCover.Enqueue((newest, _recorder.NextSequence));
        _recorder.Beacon();
        _diskCoveredThrough = newest;
    }

    private bool MayWrite(ulong requestId)
    {
        if (Alone || !DiskShared || PerformWritesBeforeAckForTesting) return true;
        while (_diskCover.Count > 0 && _diskCover.Peek().Sequence <= _acked) _diskAckedThrough = _diskCover.Dequeue().RequestId;
        return requestId <= _diskAckedThrough;
    }

    private bool NextDiskRequestMayGo(Storage.DiskService disk)
    {
        foreach (var r in disk.Device.Pending)
        {
            if (!disk.Waiting(r)) continue;
            return r.Kind == Guest.Devices.Virtio.DiskRequestKind.Read || MayWrite(r.Id);
        }
        return false;
    }

    private ulong LogBeacon()
    {
        ulong sequence = _recorder.NextSequence;
        _recorder.Beacon();
        return sequence;
    }

    /// <summary>Hands the guest waiting input frames while it has receive buffers, each a logged event carrying its number.</summary>
    private void FeedFrames()
    {
        if (_machine.Network is not { } card) return;
        int n = 0;
        while (n < Network.NetworkService.MaxFramesPerService && _pendingFrames.Count > 0 && card.CanReceive)
        {
            byte[] frame = _pendingFrames.Dequeue();
            ulong index = _pendingFramesStart++;
            n++;
            if (frame.Length == 0) continue; // too long for the card: numbered, never logged
            ulong sequence = _recorder.NextSequence;
            _recorder.NetReceive(index, frame);
            _unackedFrames.Enqueue((sequence, index + 1));
        }
    }

    private void FeedInput()
    {
        ulong applied = _pendingInputStart;
        int room = _machine.SerialInputSpace;
        if (room <= 0 || _pendingInput.Count == 0) return;
        int n = Math.Min(room, _pendingInput.Count);
        byte[] chunk = _pendingInput.GetRange(0, n).ToArray();
        _pendingInput.RemoveRange(0, n);
        _pendingInputStart += (ulong)n;
        _fedLastStep = true;
        ulong sequence = _recorder.NextSequence;
        _recorder.SerialInput(applied, chunk);
        _unackedInput.Enqueue((sequence, applied + (ulong)n));
    }

    /// <summary>The output rule: release output whose marker the backup has; confirm input it has.</summary>
    private void Release()
    {
        ulong releaseTo = _released;
        while (_heldOutput.Count > 0 && (_heldOutput.Peek().Sequence <= _acked || ReleaseBeforeAckForTesting))
            releaseTo = _heldOutput.Dequeue().OutputEnd;
        if (releaseTo > _released)
        {
            _toRelay.Add(new OutputToRelay(NodeId, Generation, _released, _output.Slice(_released, releaseTo)));
            _released = releaseTo;
        }
        ulong inputLogged = 0;
        while (_unackedInput.Count > 0 && _unackedInput.Peek().Sequence <= _acked)
            inputLogged = _unackedInput.Dequeue().InputEnd;
        if (inputLogged > 0)
        {
            _inputLogged = inputLogged;
            _toRelay.Add(new InputLoggedToRelay(NodeId, Generation, inputLogged));
        }
        if (_frames is null) return;
        ulong framesTo = _framesReleased;
        while (_heldFrames.Count > 0 && (_heldFrames.Peek().Sequence <= _acked || ReleaseBeforeAckForTesting))
            framesTo = _heldFrames.Dequeue().FrameEnd;
        for (; _framesReleased < framesTo; _framesReleased++)
            _toRelay.Add(new FrameToRelay(NodeId, Generation, _framesReleased, _frames.Get(_framesReleased)!));
        ulong framesLogged = 0;
        while (_unackedFrames.Count > 0 && _unackedFrames.Peek().Sequence <= _acked)
            framesLogged = _unackedFrames.Dequeue().FrameEnd;
        if (framesLogged > _framesLogged)
        {
            _framesLogged = framesLogged;
            _toRelay.Add(new FramesLoggedToRelay(NodeId, Generation, framesLogged));
        }
    }
}
