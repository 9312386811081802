using System.Buffers;
using VmFt.Channel.Framing;
using VmFt.Channel.Handshake;

namespace VmFt.Channel;

public sealed partial class LogChannel
{
    private ulong _peerPosition;
    private ulong _lastReceivedSequence;
    private bool _hasReceived;
    private ChannelClosure? _stopReason;

    /// <summary>Log data received (backup side), in order; completes when the channel ends, so a backup can drain it.</summary>
    public System.Threading.Channels.ChannelReader<LogSegment> ReceivedLog => _received.Reader;

    /// <summary>Machine state received (a joining backup), in order, all of it before the first <see cref="ReceivedLog"/> segment; completes when the channel ends.</summary>
    public System.Threading.Channels.ChannelReader<StateSegment> ReceivedState => _receivedState.Reader;

    /// <summary>
    /// Called on the receive path, on the thread that took the bytes in, each time an ack, log data or
    /// machine state arrived, and once when the channel ends: a host wakes its loop here instead of
    /// keeping a task waiting on the channel, which was one more thread to wake per message. It must
    /// be quick and must not block or throw (a wake-up).
    /// </summary>
    public Action? Arrived { get; set; }

    private void NotifyArrived() => Arrived?.Invoke();

    /// <summary>The position the peer reported in its latest heartbeat.</summary>
    public ulong PeerPosition => Volatile.Read(ref _peerPosition);

    /// <summary>Sequence of the last log data received, if any (backup side).</summary>
    public ulong? LastReceivedSequence
    {
        get { lock (_gate) return _hasReceived ? _lastReceivedSequence : null; }
    }

    /// <summary>Time since anything arrived from the peer.</summary>
    public TimeSpan PeerSilence => TimeSpan.FromTicks(_detector.Silence(Elapsed()));

    /// <summary>
    /// The silence the failure detector holds against the peer: <see cref="PeerSilence"/> less the
    /// time this node itself stood still (<see cref="FailureDetector"/>).
    /// </summary>
    public TimeSpan PeerSilenceWhileRunning => TimeSpan.FromTicks(_detector.SilenceWhileRunning(Elapsed()));

    private async Task ReadLoopAsync()
    {
        Exception? error = null;
        try
        {
            var read = await FrameReader.ReadAsync(_transport.Input, _options.MaxFrameBodyLength, HandleFrame, MarkHeard, _stop.Token)
                .ConfigureAwait(false);
            if (!read.Stopped)
                await ShutdownAsync(ChannelClosure.EndOfStream(read.PendingBytes), sendGoodbye: false).ConfigureAwait(false);
            else if (_stopReason is not null)
                await ShutdownAsync(_stopReason, sendGoodbye: _stopReason.Reason == ChannelCloseReason.ProtocolError).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (ChannelProtocolException e)
        {
            error = e;
            await ShutdownAsync(new ChannelClosure(ChannelCloseReason.ProtocolError, ChannelCloseCode.ProtocolError, e.Message, e), sendGoodbye: true)
                .ConfigureAwait(false);
        }
        catch (Exception e)
        {
            error = e;
            await ShutdownAsync(new ChannelClosure(ChannelCloseReason.TransportFailed, ChannelCloseCode.TransportFailed, e.Message, e), sendGoodbye: false)
                .ConfigureAwait(false);
        }
        finally
        {
            await _transport.Input.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private void MarkHeard() => _detector.Heard(Elapsed());

    /// <summary>Runs on the read loop for every frame; returns false to end the channel.</summary>
    private bool HandleFrame(in Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Heartbeat:
                Volatile.Write(ref _peerPosition, frame.Value);
                return true;

            case FrameType.LogData:
                if (LocalRole != ChannelRole.Backup)
                    return Violation(ChannelCloseCode.ProtocolError, $"log data sent to the {LocalRole}, which only sends log");
                lock (_gate)
                {
                    if (_hasReceived && frame.Value <= _lastReceivedSequence)
                        return Violation(ChannelCloseCode.SequenceOutOfOrder,
                            $"log sequence {frame.Value} does not follow {_lastReceivedSequence}: log data out of order");
                    _hasReceived = true;
                    _lastReceivedSequence = frame.Value;
                }
                _received.Writer.TryWrite(new LogSegment(frame.Value, frame.Payload.ToArray()));
                NotifyArrived();
                return true;

            case FrameType.State:
                if (LocalRole != ChannelRole.Backup)
                    return Violation(ChannelCloseCode.ProtocolError, $"machine state sent to the {LocalRole}, which only sends it");
                lock (_gate)
                    if (_hasReceived) return Violation(ChannelCloseCode.ProtocolError, "machine state after log data");
                _receivedState.Writer.TryWrite(new StateSegment(frame.Value, frame.Payload.ToArray()));
                NotifyArrived();
                return true;

            case FrameType.Ack:
                if (LocalRole != ChannelRole.Primary)
                    return Violation(ChannelCloseCode.ProtocolError, $"ack sent to the {LocalRole}, which only sends acks");
                return OnAck(frame.Value);

            case FrameType.Goodbye:
                var (code, reason) = CloseMessage.Decode(frame.Payload);
                _stopReason = new ChannelClosure(ChannelCloseReason.PeerGoodbye, code, reason);
                return false;

            default:
                return Violation(ChannelCloseCode.ProtocolError, $"unexpected {frame.Type} frame after the handshake");
        }
    }

    private bool Violation(ChannelCloseCode code, string reason)
    {
        _stopReason = new ChannelClosure(ChannelCloseReason.ProtocolError, code, reason, new ChannelProtocolException(reason));
        return false;
    }
}
