using System.Buffers;
using System.Runtime.CompilerServices;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Streams;

/// <summary>
/// The event side shared by the stream and recording readers: the log header, then blocks whose
/// sequence numbers must continue exactly where the previous block stopped, up to the end marker.
/// A block's events are handed out only once the whole block has been checked.
/// </summary>
internal sealed class LogEventReader(LogPipeReader reader, ulong firstSequence)
{
    private static readonly UnitParser<LogHeader> HeaderParser = (ref ReadOnlySequence<byte> buffer, long _, out LogHeader header) => LogHeader.TryRead(ref buffer, out header);
    private static readonly UnitParser<LogBlock?> BlockParser = LogBlockCodec.TryReadBlock;

    private ulong _next = firstSequence;

    public LogPipeReader Reader => reader;

    public bool IsComplete { get; private set; }

    public ulong NextSequence => _next;

    public async ValueTask ReadHeaderAsync(LogContentKind expected, CancellationToken cancellationToken)
    {
        var (found, header) = await reader.ReadAsync(HeaderParser, "the log header", cancellationToken).ConfigureAwait(false);
        if (!found) throw new LogTruncatedException(0, "input is empty: no log header");
        if (header.Kind != expected)
            throw new LogFormatException(LogFormatError.WrongContentKind, 12, $"this is a {Describe(header.Kind)}, not a {Describe(expected)}");
    }

    public async IAsyncEnumerable<LogEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (!IsComplete)
        {
            long at = reader.Offset;
            var (found, block) = await reader.ReadAsync(BlockParser, "a block", cancellationToken).ConfigureAwait(false);
            if (!found) throw new LogTruncatedException(at, "input ends without an end marker");
            CheckSequence(block!);
            if (block!.IsEndMarker)
            {
                IsComplete = true;
                yield break;
            }
            _next = block.FirstSequence + (ulong)block.Events.Count;
            foreach (LogEvent e in block.Events) yield return e;
        }
    }

    private void CheckSequence(LogBlock block)
    {
        if (block.FirstSequence > _next)
            throw new LogFormatException(LogFormatError.SequenceGap, block.Offset, $"block starts at sequence {block.FirstSequence}, expected {_next}: {block.FirstSequence - _next} events missing");
        if (block.FirstSequence < _next)
            throw new LogFormatException(LogFormatError.SequenceRepeat, block.Offset, $"block starts at sequence {block.FirstSequence}, expected {_next}: {_next - block.FirstSequence} events repeated");
    }

    private static string Describe(LogContentKind kind) => kind == LogContentKind.Recording ? "recording" : "log stream";
}
