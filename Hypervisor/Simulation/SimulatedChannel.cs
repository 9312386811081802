using System.Buffers;
using VmFt.Channel;
using VmFt.Channel.Framing;
using VmFt.Channel.Handshake;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// A node's end of the simulated logging channel, with the real channel's framing and its rules for
/// how a channel ends: frames are encoded and parsed by <see cref="FrameCodec"/>, a stream that ends
/// is judged by <see cref="ChannelClosure.EndOfStream"/> (between frames or inside one, as
/// <see cref="LogChannel"/> judges it), a Goodbye or malformed bytes end it as they end a real
/// channel, and the real <see cref="FailureDetector"/> declares a silent peer dead (then, as a real
/// channel, this end says Goodbye and closes). Time is the scheduler's step; the watchdog ticks once
/// per step this node runs and, as the real channel's does, counts bytes waiting unread in the
/// socket as hearing the peer.
/// </summary>
/// <param name="start">The step the channel comes up (a backup that joins later gets a channel of its own then).</param>
internal sealed class SimulatedChannel(SimulatedStream outgoing, SimulatedStream incoming, int timeout, bool watchdogIgnoresUnreadBytes = false, int start = 0)
{
    private readonly List<byte> _pending = [];
    private readonly FailureDetector _detector = new(period: 1, timeout, start);
    private int _readerLagsUntil;

    /// <summary>
    /// This node's reader takes nothing before <paramref name="step"/> while its watchdog keeps
    /// time (the node is starved of CPU, and the reader's thread is the one that waits).
    /// </summary>
    public void LagReaderUntil(int step) => _readerLagsUntil = Math.Max(_readerLagsUntil, step);

    /// <summary>How the channel ended, once it has.</summary>
    public ChannelClosure? Closure { get; private set; }

    public void Send(int step, in Frame frame)
    {
        if (Closure is not null) return;
        var bytes = new ArrayBufferWriter<byte>();
        FrameCodec.WriteFrame(frame, bytes);
        outgoing.Write(step, bytes.WrittenSpan);
    }

    /// <summary>This node's process died: what it had written is cut somewhere, then the peer sees the end.</summary>
    public void Die()
    {
        Closure ??= new ChannelClosure(ChannelCloseReason.LocalClose, ChannelCloseCode.Normal, "the process died");
        outgoing.WriterDied();
    }

    /// <summary>This node ends the channel in order (its guest exited): a Goodbye, then the end of its stream.</summary>
    public void Close(int step, string reason)
    {
        if (Closure is not null) return;
        End(step, new ChannelClosure(ChannelCloseReason.LocalClose, ChannelCloseCode.Normal, reason), goodbye: true);
    }

    /// <summary>
    /// The frames (type, value, payload) that arrived by <paramref name="step"/>; afterwards
    /// <see cref="Closure"/> says whether, and how, the channel ended. With
    /// <paramref name="watchdogFirst"/> the watchdog looks before the reader has taken what arrived
    /// (the order a node's threads may run in when it wakes from a stall).
    /// </summary>
    public List<(FrameType Type, ulong Value, byte[] Payload)> Receive(int step, bool watchdogFirst = false)
    {
        var frames = new List<(FrameType, ulong, byte[])>();
        if (Closure is not null) return frames;
        if (watchdogFirst || step < _readerLagsUntil) Watch(step);
        if (Closure is not null || step < _readerLagsUntil) return frames;
        int before = _pending.Count;
        bool ended = incoming.Deliver(step, _pending);
        if (_pending.Count > before) _detector.Heard(step);
        var buffer = new ReadOnlySequence<byte>(_pending.ToArray());
        try
        {
            while (Closure is null && FrameCodec.TryParseFrame(ref buffer, out var frame))
            {
                if (frame.Type == FrameType.Goodbye)
                {
                    var (code, reason) = CloseMessage.Decode(frame.Payload);
                    Closure = new ChannelClosure(ChannelCloseReason.PeerGoodbye, code, reason);
                    outgoing.Close();
                }
                else
                {
                    frames.Add((frame.Type, frame.Value, frame.Payload.ToArray()));
                }
            }
        }
        catch (ChannelProtocolException e)
        {
            End(step, new ChannelClosure(ChannelCloseReason.ProtocolError, ChannelCloseCode.ProtocolError, e.Message, e), goodbye: true);
        }
        _pending.RemoveRange(0, _pending.Count - (int)buffer.Length);
        if (Closure is null && ended)
        {
            var end = ChannelClosure.EndOfStream(_pending.Count);
            End(step, end, goodbye: end.Reason == ChannelCloseReason.ProtocolError);
        }
        if (!watchdogFirst) Watch(step);
        return frames;
    }

    private void Watch(int step)
    {
        if (!watchdogIgnoresUnreadBytes && incoming.HasArrived(step)) _detector.Heard(step);
        if (Closure is null && _detector.Tick(step))
            End(step, new ChannelClosure(ChannelCloseReason.PeerSilent, ChannelCloseCode.PeerTimeout,
                $"nothing heard from the peer for {_detector.Silence(step)} steps (timeout {_detector.Timeout} steps" +
                (_detector.OwnStall > 0 ? $"; {_detector.OwnStall} of them while this node stood still" : "") + ")"), goodbye: true);
    }

    private void End(int step, ChannelClosure closure, bool goodbye)
    {
        if (goodbye)
        {
            var bytes = new ArrayBufferWriter<byte>();
            FrameCodec.WriteFrame(Frame.Body(FrameType.Goodbye, CloseMessage.Encode(closure.Code, closure.Message)), bytes);
            outgoing.Write(step, bytes.WrittenSpan);
        }
        Closure = closure;
        outgoing.Close();
    }
}
