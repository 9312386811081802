using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Streams;

namespace VmFt.ReplayLog.Recording;

/// <summary>
/// Reads a recording: <see cref="OpenAsync(Stream, CancellationToken)"/> checks both headers, then
/// <see cref="ReadEventsAsync"/> yields the events of each complete block. A recording without its
/// end marker yields every complete block and then throws <see cref="LogTruncatedException"/> with
/// the offset where the valid part ends; bytes after the end marker are an error too.
/// </summary>
public sealed class RecordingReader : IAsyncDisposable
{
    private static readonly UnitParser<RecordingHeader?> HeaderParser = RecordingHeaderCodec.TryRead;

    private readonly PipeReader _input;
    private readonly LogEventReader _events;

    private RecordingReader(PipeReader input, LogEventReader events, RecordingHeader header)
    {
        _input = input;
        _events = events;
        Header = header;
    }

    public RecordingHeader Header { get; }

    /// <summary>The end marker has been read and nothing follows it.</summary>
    public bool IsComplete { get; private set; }

    public static async Task<RecordingReader> OpenAsync(PipeReader input, CancellationToken cancellationToken = default)
    {
        try
        {
            var pipe = new LogPipeReader(input);
            var events = new LogEventReader(pipe, firstSequence: 1);
            await events.ReadHeaderAsync(LogContentKind.Recording, cancellationToken).ConfigureAwait(false);
            long at = pipe.Offset;
            var (found, header) = await pipe.ReadAsync(HeaderParser, "the recording header", cancellationToken).ConfigureAwait(false);
            if (!found) throw new LogTruncatedException(at, "input ends before the recording header");
            return new RecordingReader(input, events, header!);
        }
        catch
        {
            await input.CompleteAsync().ConfigureAwait(false);
            throw;
        }
    }

    public static Task<RecordingReader> OpenAsync(Stream input, CancellationToken cancellationToken = default) =>
        OpenAsync(PipeReader.Create(input), cancellationToken);

    public async IAsyncEnumerable<LogEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (LogEvent e in _events.ReadEventsAsync(cancellationToken).ConfigureAwait(false))
            yield return e;
        long end = _events.Reader.Offset;
        if (!await _events.Reader.IsAtEndAsync(cancellationToken).ConfigureAwait(false))
            throw new LogFormatException(LogFormatError.TrailingData, end, "bytes follow the recording's end marker");
        IsComplete = true;
    }

    /// <summary>
    /// Reads a whole recording. With <paramref name="allowTruncated"/> a recording that lacks its end
    /// marker is returned with the events of its complete blocks and <see cref="RecordingContents.Truncation"/>
    /// set; without it, truncation throws like any other error.
    /// </summary>
    public static async Task<RecordingContents> ReadAllAsync(PipeReader input, bool allowTruncated = false, CancellationToken cancellationToken = default)
    {
        await using RecordingReader reader = await OpenAsync(input, cancellationToken).ConfigureAwait(false);
        var events = new List<LogEvent>();
        try
        {
            await foreach (LogEvent e in reader.ReadEventsAsync(cancellationToken).ConfigureAwait(false))
                events.Add(e);
        }
        catch (LogTruncatedException truncation) when (allowTruncated)
        {
            return new RecordingContents(reader.Header, events, truncation);
        }
        return new RecordingContents(reader.Header, events, null);
    }

    public static Task<RecordingContents> ReadAllAsync(Stream input, bool allowTruncated = false, CancellationToken cancellationToken = default) =>
        ReadAllAsync(PipeReader.Create(input), allowTruncated, cancellationToken);

    /// <summary>Reads a recording held in memory; synchronous because no read ever has to wait.</summary>
    public static RecordingContents ReadAll(ReadOnlyMemory<byte> recording, bool allowTruncated = false)
    {
        Task<RecordingContents> task = ReadAllAsync(PipeReader.Create(new ReadOnlySequence<byte>(recording)), allowTruncated);
        // A pipe over memory completes every read at once, so the task is already done.
        return task.GetAwaiter().GetResult();
    }

    public static RecordingContents ReadFile(string path, bool allowTruncated = false) => ReadAll(File.ReadAllBytes(path), allowTruncated);

    public async ValueTask DisposeAsync() => await _input.CompleteAsync().ConfigureAwait(false);
}
