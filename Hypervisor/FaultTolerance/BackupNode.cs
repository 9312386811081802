using VmFt.Guest.Machine;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>
/// The backup: replays the primary's log on an identical machine, never running past the last
/// event it has received; acknowledges what it has received; keeps the (suppressed) output it
/// reproduces until the relay confirms the client has it. When the primary is declared dead and
/// this node wins the arbiter, <see cref="GoLive"/> turns it into the new primary.
/// </summary>
public sealed class BackupNode
{
    private readonly PcMachine _machine;
    private readonly Replayer _replayer;
    private readonly OutputStream _output;
    private readonly Queue<LogEvent> _received = new();
    private ulong _highestReceived;
    private ulong _inputEnd;

    public string NodeId { get; }
    public PcMachine Machine => _machine;
    /// <summary>Highest contiguous log sequence received: what the acknowledgement says.</summary>
    public ulong Acknowledged => _highestReceived;
    public ulong Replayed { get; private set; }
    public bool PrimaryExited { get; private set; }

    public BackupNode(string nodeId, PcMachine machine, OutputStream? output = null)
    {
        NodeId = nodeId;
        _output = output ?? new OutputStream();
        _machine = machine;
        _replayer = new Replayer(machine);
        machine.SerialOutput = _output.Append; // produced again, but never sent: the primary sent it
    }

    /// <summary>Takes a batch of log events from the channel. Events must continue the sequence; a gap is refused whole.</summary>
    public void OnLog(IReadOnlyList<LogEvent> events)
    {
        foreach (var e in events)
        {
            if (e.Sequence <= _highestReceived) continue; // a re-sent batch: already have it
            if (e.Sequence != _highestReceived + 1)
                throw new InvalidDataException($"log event #{e.Sequence} after #{_highestReceived}: the channel lost or reordered events");
            _received.Enqueue(e);
            _highestReceived = e.Sequence;
        }
    }

    public void OnRelay(RelayToNode message)
    {
        if (message is DeliveredFromRelay delivered) _output.Confirm(delivered.OutputEnd);
    }

    /// <summary>Replays everything received so far (the machine then waits at the last event's position).</summary>
    public void Step()
    {
        while (_received.Count > 0)
        {
            var e = _received.Dequeue();
            _replayer.Feed(e);
            Replayed = e.Sequence;
            if (e is SerialInputEvent s) _inputEnd = s.InputOffset + (ulong)s.Data.Length;
            if (e is GuestExitEvent) PrimaryExited = true;
        }
    }

    /// <summary>
    /// Go live: drain the log, then continue as the primary of <paramref name="generation"/> from
    /// exactly this state. The caller must have won the arbiter.
    /// </summary>
    public PrimaryNode GoLive(ulong generation, ulong sliceInstructions = 20_000, Func<ulong>? hostClock = null)
    {
        Step();
        return new PrimaryNode(NodeId, generation, _machine, _output, _highestReceived + 1, _inputEnd)
        {
            SliceInstructions = sliceInstructions,
            HostClock = hostClock,
        };
    }
}
