using System.Buffers;
using System.IO.Pipelines;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Streams;

/// <summary>Parses one unit from the front of a buffer whose first byte is at stream offset <paramref name="offset"/>; false means "incomplete, wait".</summary>
internal delegate bool UnitParser<T>(ref ReadOnlySequence<byte> buffer, long offset, out T value);

/// <summary>
/// The one read loop over a <see cref="PipeReader"/>: asks the pipe for bytes until a pure parser
/// accepts a unit, tracking the stream offset for error messages. An incomplete unit waits for more
/// bytes; the pipe ending inside one is a truncation at the unit's offset.
/// </summary>
internal sealed class LogPipeReader(PipeReader input)
{
    public long Offset { get; private set; }

    public PipeReader Input => input;

    /// <summary>Reads one unit; Found is false only when the input ended cleanly before its first byte.</summary>
    public async ValueTask<(bool Found, T Value)> ReadAsync<T>(UnitParser<T> parser, string what, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (TryParse(parser, buffer, out T value, out SequencePosition end, out long consumed))
            {
                // The buffer's memory may go back to the pool once advanced: measure first.
                Offset += consumed;
                input.AdvanceTo(end);
                return (true, value);
            }
            if (result.IsCanceled)
            {
                // CancelPendingRead: the caller wants control back; nothing is lost, the unit is read again later.
                input.AdvanceTo(buffer.Start, buffer.End);
                throw new OperationCanceledException("the log read was cancelled");
            }
            if (result.IsCompleted)
            {
                input.AdvanceTo(buffer.End);
                if (buffer.IsEmpty) return (false, default!);
                throw new LogTruncatedException(Offset, $"input ends inside {what} ({buffer.Length} bytes of it present)");
            }
            // Nothing consumed, everything examined: the next read returns only once more bytes arrived.
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True when the input has ended with no further bytes; false when bytes follow.</summary>
    public async ValueTask<bool> IsAtEndAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            bool empty = result.Buffer.IsEmpty;
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (!empty) return false;
            if (result.IsCompleted) return true;
        }
    }

    private bool TryParse<T>(UnitParser<T> parser, ReadOnlySequence<byte> buffer, out T value, out SequencePosition end, out long consumed)
    {
        ReadOnlySequence<byte> rest = buffer;
        bool parsed = parser(ref rest, Offset, out value);
        end = rest.Start;
        consumed = buffer.Length - rest.Length;
        return parsed;
    }
}
