using System.Buffers;
using System.IO.Pipelines;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Streams;

/// <summary>
/// Writes a log to a pipe: the header, then events batched into blocks. A block is emitted when it
/// reaches the target size or when the caller flushes; <see cref="CompleteAsync"/> adds the end
/// marker. Events must arrive with consecutive sequence numbers.
/// </summary>
public sealed class LogStreamWriter
{
    /// <summary>Default payload size at which a block is closed: large enough to amortise framing, small enough to ship promptly.</summary>
    public const int DefaultBlockTargetLength = 64 * 1024;

    private readonly PipeWriter _output;
    private readonly int _target;
    private readonly List<LogEvent> _pending = [];
    private int _pendingLength;
    private ulong _lastPosition;
    private ulong _next;
    private bool _completed;

    public LogStreamWriter(PipeWriter output, int blockTargetLength = DefaultBlockTargetLength, ulong firstSequence = 1)
        : this(output, LogContentKind.Stream, null, blockTargetLength, firstSequence)
    {
    }

    internal LogStreamWriter(PipeWriter output, LogContentKind kind, Action<IBufferWriter<byte>>? writePreamble, int blockTargetLength, ulong firstSequence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockTargetLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(blockTargetLength, LogBlockCodec.MaxPayloadLength);
        ArgumentOutOfRangeException.ThrowIfZero(firstSequence);
        _output = output;
        _target = blockTargetLength;
        _next = firstSequence;
        LogHeader.Write(kind, output);
        writePreamble?.Invoke(output);
    }

    /// <summary>The sequence number the next event must have.</summary>
    public ulong NextSequence => _next;

    /// <summary>
    /// Adds an event; returns true when this closed a block into the pipe (not yet flushed).
    /// Synchronous so that a recorder can log without awaiting; flush when it returns true.
    /// </summary>
    public bool Append(LogEvent e)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (e.Sequence != _next)
            throw new ArgumentException($"event has sequence {e.Sequence}, expected {_next}", nameof(e));
        int size = LogBlockCodec.GetEncodedSize(e, _pending.Count == 0 ? 0 : _lastPosition);
        bool emitted = false;
        if (_pending.Count > 0 && _pendingLength + size > _target)
        {
            EmitPending();
            emitted = true;
            size = LogBlockCodec.GetEncodedSize(e, 0);
        }
        _pending.Add(e);
        _pendingLength += size;
        _lastPosition = e.Position;
        _next++;
        if (_pendingLength >= _target)
        {
            EmitPending();
            emitted = true;
        }
        return emitted;
    }

    /// <summary>Adds an event and flushes the pipe if that closed a block.</summary>
    public ValueTask<FlushResult> WriteAsync(LogEvent e, CancellationToken cancellationToken = default) =>
        Append(e) ? _output.FlushAsync(cancellationToken) : new ValueTask<FlushResult>(new FlushResult(false, false));

    /// <summary>Closes the pending events into a block (if any) and flushes the pipe.</summary>
    public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        EmitPending();
        return _output.FlushAsync(cancellationToken);
    }

    /// <summary>Writes the pending events and the end marker, flushes, and completes the pipe: the log is whole.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        EmitPending();
        LogBlockCodec.WriteEndMarker(_next, _output);
        _completed = true;
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        await _output.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the pending events and completes the pipe without an end marker (with
    /// <paramref name="error"/>, if any): readers will see a truncated log after the last block.
    /// </summary>
    public async ValueTask AbandonAsync(Exception? error = null)
    {
        if (_completed) return;
        _completed = true;
        try
        {
            EmitPending();
            await _output.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            await _output.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private void EmitPending()
    {
        if (_pending.Count == 0) return;
        LogBlockCodec.WriteBlock(_pending, _output);
        _pending.Clear();
        _pendingLength = 0;
    }
}
