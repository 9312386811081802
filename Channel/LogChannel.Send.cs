using System.IO.Pipelines;
using VmFt.Channel.Framing;

namespace VmFt.Channel;

public sealed partial class LogChannel
{
    // One writer at a time on the pipe: log data, acks, heartbeats and the goodbye share it.
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    /// <summary>How long a failed write waits for the receive side to read a Goodbye the peer sent before it went.</summary>
    private static readonly TimeSpan PeerGoodbyeGrace = TimeSpan.FromMilliseconds(100);
    private bool _outputCompleted;

    // Guards the window and sequence state below.
    private readonly object _gate = new();
    private readonly Queue<(ulong Sequence, long Bytes)> _inFlight = new();
    private long _unacknowledgedBytes;
    private ulong _lastSentSequence;
    private bool _hasSent;
    private ulong _acknowledgedSequence;
    private bool _hasAck;
    private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _arrivedAtLastTick; // the transport's count of bytes arrived, at the watchdog's last look
    private ulong _localPosition;

    /// <summary>The position this node reports in its heartbeats.</summary>
    public ulong LocalPosition
    {
        get => Volatile.Read(ref _localPosition);
        set => Volatile.Write(ref _localPosition, value);
    }

    /// <summary>Log bytes sent but not yet acknowledged (primary side).</summary>
    public long UnacknowledgedBytes
    {
        get { lock (_gate) return _unacknowledgedBytes; }
    }

    /// <summary>Highest sequence the backup acknowledged, if any (primary side).</summary>
    public ulong? AcknowledgedSequence
    {
        get { lock (_gate) return _hasAck ? _acknowledgedSequence : null; }
    }

    /// <summary>
    /// Sends opaque log bytes whose last event has <paramref name="lastSequence"/> (primary only).
    /// Sequences must rise strictly. Waits first while the unacknowledged bytes are at or above the
    /// window, so the primary stalls when the backup falls behind.
    /// </summary>
    public async ValueTask SendLogAsync(ulong lastSequence, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        if (LocalRole != ChannelRole.Primary)
            throw new InvalidOperationException("only the primary sends log data");
        if (bytes.Length > _options.MaxFrameBodyLength - FrameCodec.ValueLength)
            throw new ArgumentException($"{bytes.Length} log bytes exceed the frame limit of {_options.MaxFrameBodyLength}; split the batch", nameof(bytes));

        await WaitForWindowAsync(cancellationToken).ConfigureAwait(false);
        await SendAsync(Frame.LogData(lastSequence, bytes), cancellationToken, () =>
        {
            lock (_gate)
            {
                if (_hasSent && lastSequence <= _lastSentSequence)
                    throw new ArgumentOutOfRangeException(nameof(lastSequence),
                        $"log sequence {lastSequence} does not follow {_lastSentSequence}");
                _hasSent = true;
                _lastSentSequence = lastSequence;
                _inFlight.Enqueue((lastSequence, bytes.Length));
                _unacknowledgedBytes += bytes.Length;
            }
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends a piece of the machine's state to a joining backup (primary only, before any log data):
    /// <paramref name="kind"/> and the bytes mean what the two nodes agree; the channel only carries
    /// them, in order. The transport's back-pressure paces it, not the log's send window: state is
    /// never acknowledged.
    /// </summary>
    public ValueTask SendStateAsync(ulong kind, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        if (LocalRole != ChannelRole.Primary)
            throw new InvalidOperationException("only the primary sends machine state");
        if (bytes.Length > _options.MaxFrameBodyLength - FrameCodec.ValueLength)
            throw new ArgumentException($"{bytes.Length} state bytes exceed the frame limit of {_options.MaxFrameBodyLength}; split them", nameof(bytes));
        lock (_gate)
            if (_hasSent) throw new InvalidOperationException("machine state after log data");
        return SendAsync(Frame.State(kind, bytes), cancellationToken, null);
    }

    /// <summary>Acknowledges every log event up to <paramref name="sequence"/> as received: the backup has it (backup only).</summary>
    public ValueTask SendAckAsync(ulong sequence, CancellationToken cancellationToken = default)
    {
        if (LocalRole != ChannelRole.Backup)
            throw new InvalidOperationException("only the backup sends acks");
        return SendAsync(Frame.Ack(sequence), cancellationToken, null);
    }

    private long _windowStalls;
    private long _windowStallTicks;

    /// <summary>How often a send waited for the window (back-pressure engaged), since the channel opened.</summary>
    public long WindowStalls => Interlocked.Read(ref _windowStalls);

    /// <summary>How long sends waited for the window in all.</summary>
    public TimeSpan WindowStallTime => TimeSpan.FromTicks(Interlocked.Read(ref _windowStallTicks));

    /// <summary>Returns once the unacknowledged log bytes are below the window.</summary>
    public async ValueTask WaitForWindowAsync(CancellationToken cancellationToken = default)
    {
        bool paused = false;
        long since = 0;
        while (true)
        {
            Task wait;
            long unacknowledged;
            lock (_gate)
            {
                ThrowIfClosed();
                unacknowledged = _unacknowledgedBytes;
                if (unacknowledged < _options.SendWindowBytes)
                    break;
                wait = _progress.Task;
            }
            if (!paused)
            {
                paused = true;
                since = System.Diagnostics.Stopwatch.GetTimestamp();
                Interlocked.Increment(ref _windowStalls);
                ChannelLog.WindowFull(_logger, unacknowledged, _options.SendWindowBytes);
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        if (paused)
        {
            Interlocked.Add(ref _windowStallTicks, System.Diagnostics.Stopwatch.GetElapsedTime(since).Ticks);
            ChannelLog.WindowReopened(_logger, UnacknowledgedBytes);
        }
    }

    /// <summary>Returns once the backup acknowledged <paramref name="sequence"/>: the output rule waits here.</summary>
    public async Task WaitForAckAsync(ulong sequence, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_hasAck && _acknowledgedSequence >= sequence)
                    return;
                ThrowIfClosed();
                wait = _progress.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private bool OnAck(ulong sequence)
    {
        lock (_gate)
        {
            if (!_hasSent || sequence > _lastSentSequence)
                return Violation(ChannelCloseCode.SequenceOutOfOrder,
                    _hasSent ? $"ack for sequence {sequence}, but only {_lastSentSequence} was sent" : $"ack for sequence {sequence} before any log was sent");
            if (_hasAck && sequence < _acknowledgedSequence)
                return Violation(ChannelCloseCode.SequenceOutOfOrder, $"ack went backwards from {_acknowledgedSequence} to {sequence}");
            _hasAck = true;
            _acknowledgedSequence = sequence;
            while (_inFlight.TryPeek(out var head) && head.Sequence <= sequence)
            {
                _inFlight.Dequeue();
                _unacknowledgedBytes -= head.Bytes;
            }
        }
        SignalProgress();
        NotifyArrived();
        return true;
    }

    /// <summary>Wakes everyone waiting for an ack or the window (also on close, so they can throw).</summary>
    private void SignalProgress()
    {
        TaskCompletionSource old;
        lock (_gate)
        {
            old = _progress;
            _progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        old.TrySetResult();
    }

    private void ThrowIfClosed()
    {
        if (_closed.Task.IsCompleted)
            throw new ChannelClosedException(_closed.Task.Result);
    }

    /// <summary>Writes one frame under the write lock; <paramref name="commit"/> runs under the lock just before the write.</summary>
    private async ValueTask SendAsync(Frame frame, CancellationToken cancellationToken, Action? commit)
    {
        ThrowIfClosed();
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token) : null;
        var token = linked?.Token ?? _stop.Token;
        try
        {
            await _writeLock.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new ChannelClosedException(_closed.Task.Result);
        }
        Exception? transportError = null;
        try
        {
            commit?.Invoke();
            await WriteFrameLockedAsync(frame, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ChannelClosedException(_closed.Task.Result);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            transportError = e;
        }
        finally
        {
            _writeLock.Release();
        }

        if (transportError is not null)
        {
            // A peer that closed with a reason sent its Goodbye before its end of the stream, and the
            // receive side may not have read it yet when this write finds the stream gone: give it a
            // moment, so the closure names the peer's reason (a refused join, say) and not the broken pipe.
            await Task.WhenAny(_closed.Task, Task.Delay(PeerGoodbyeGrace)).ConfigureAwait(false);
            // Shut down outside the lock: shutdown takes the lock itself to complete the pipe.
            await ShutdownAsync(new ChannelClosure(ChannelCloseReason.TransportFailed, ChannelCloseCode.TransportFailed,
                transportError.Message, transportError), sendGoodbye: false).ConfigureAwait(false);
            throw new ChannelClosedException(_closed.Task.Result);
        }
    }

    private async ValueTask WriteFrameLockedAsync(Frame frame, CancellationToken token)
    {
        if (_outputCompleted)
            throw new ChannelClosedException(_closed.Task.Result);
        FrameCodec.WriteFrame(frame, _transport.Output);
        var flush = _transport.Output.FlushAsync(token);
        FlushResult result;
        if (flush.IsCompleted)
        {
            result = flush.Result;
        }
        else
        {
            // The pipe is over its pause threshold: the peer or the network is not keeping up.
            ChannelLog.TransportPaused(_logger);
            result = await flush.ConfigureAwait(false);
            ChannelLog.TransportResumed(_logger);
        }
        if (result.IsCompleted)
            throw new IOException("the peer stopped reading");
    }

    private async Task HeartbeatLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                await SendAsync(Frame.Heartbeat(LocalPosition), CancellationToken.None, null).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
        }
    }

    private async Task WatchdogLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromTicks(_detector.Period), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                long stallBefore = _detector.OwnStall;
                NoteArrivedInput();
                bool dead = _detector.Tick(Elapsed());
                if (_detector.OwnStall > stallBefore)
                    ChannelLog.OwnStall(_logger, (long)TimeSpan.FromTicks(_detector.OwnStall - stallBefore).TotalMilliseconds);
                if (!dead)
                    continue;
                var silence = PeerSilence;
                var stood = TimeSpan.FromTicks(_detector.OwnStall);
                ChannelLog.PeerSilent(_logger, (long)silence.TotalMilliseconds, (long)_options.PeerTimeout.TotalMilliseconds);
                await ShutdownAsync(new ChannelClosure(ChannelCloseReason.PeerSilent, ChannelCloseCode.PeerTimeout,
                    $"nothing heard from the peer for {silence.TotalMilliseconds:F0} ms (timeout {_options.PeerTimeout.TotalMilliseconds:F0} ms" +
                    (stood > TimeSpan.Zero ? $"; {stood.TotalMilliseconds:F0} ms of it while this node stood still" : "") + ")"),
                    sendGoodbye: true).ConfigureAwait(false);
                return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Bytes from the peer that reached the socket count as hearing it even before the reader takes
    /// them: a node starved of CPU can run its watchdog while its reader waits for a thread, and the
    /// peer's heartbeats then sit unread (<see cref="Transport.IInputArrival"/>).
    /// </summary>
    private void NoteArrivedInput()
    {
        if (_transport is not Transport.IInputArrival arrival) return;
        long arrived = arrival.BytesArrived;
        if (arrived == _arrivedAtLastTick) return;
        _arrivedAtLastTick = arrived;
        _detector.Heard(Elapsed());
    }
}
