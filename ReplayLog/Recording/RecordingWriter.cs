using System.IO.Pipelines;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Streams;

namespace VmFt.ReplayLog.Recording;

/// <summary>
/// Writes a recording: the log header, the recording header, event blocks and, on
/// <see cref="CompleteAsync"/>, the end marker. Disposing without completing writes the pending
/// events but no end marker, so a reader reports the recording as truncated after its last block
/// (which is what a crash leaves as well).
/// </summary>
public sealed class RecordingWriter : IAsyncDisposable
{
    private readonly LogStreamWriter _log;
    private bool _closed;

    public RecordingWriter(PipeWriter output, RecordingHeader header, int blockTargetLength = LogStreamWriter.DefaultBlockTargetLength)
    {
        RecordingHeaderCodec.Validate(header);
        _log = new LogStreamWriter(output, LogContentKind.Recording, w => RecordingHeaderCodec.Write(header, w), blockTargetLength, firstSequence: 1);
    }

    public RecordingWriter(Stream output, RecordingHeader header, int blockTargetLength = LogStreamWriter.DefaultBlockTargetLength, bool leaveOpen = false)
        : this(PipeWriter.Create(output, new StreamPipeWriterOptions(leaveOpen: leaveOpen)), header, blockTargetLength)
    {
    }

    /// <summary>Creates (or replaces) the file at <paramref name="path"/>.</summary>
    public static RecordingWriter Create(string path, RecordingHeader header, int blockTargetLength = LogStreamWriter.DefaultBlockTargetLength) =>
        new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 1, useAsync: true), header, blockTargetLength);

    public ulong NextSequence => _log.NextSequence;

    /// <inheritdoc cref="LogStreamWriter.Append"/>
    public bool Append(LogEvent e) => _log.Append(e);

    public ValueTask<FlushResult> WriteAsync(LogEvent e, CancellationToken cancellationToken = default) => _log.WriteAsync(e, cancellationToken);

    public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => _log.FlushAsync(cancellationToken);

    /// <summary>Ends the recording cleanly: pending events, the end marker, flush, close.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        _closed = true;
        await _log.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_closed) return;
        _closed = true;
        await _log.AbandonAsync().ConfigureAwait(false);
    }
}
