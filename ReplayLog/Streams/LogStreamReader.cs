using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Streams;

/// <summary>
/// Reads a live log stream (header, then blocks, then the end marker) from a pipe, as a backup does.
/// An incomplete block waits for more bytes; a corrupt one, a gap or a repeat throws
/// <see cref="LogFormatException"/>; the pipe ending before the end marker throws <see cref="LogTruncatedException"/>.
/// The reader completes its pipe when the enumeration ends.
/// </summary>
public sealed class LogStreamReader(PipeReader input, ulong firstSequence = 1)
{
    private readonly LogEventReader _events = new(new LogPipeReader(input), firstSequence);

    /// <summary>The end marker has been read: every event of the log has been delivered.</summary>
    public bool IsComplete => _events.IsComplete;

    /// <summary>Bytes consumed from the stream so far.</summary>
    public long Offset => _events.Reader.Offset;

    /// <summary>The sequence number the next event must have.</summary>
    public ulong NextSequence => _events.NextSequence;

    public async IAsyncEnumerable<LogEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        try
        {
            await _events.ReadHeaderAsync(LogContentKind.Stream, cancellationToken).ConfigureAwait(false);
            await foreach (LogEvent e in _events.ReadEventsAsync(cancellationToken).ConfigureAwait(false))
                yield return e;
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
        }
    }
}
