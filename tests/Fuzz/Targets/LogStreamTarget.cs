using System.Buffers;
using System.IO.Pipelines;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Streams;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// A live log stream as a backup reads it: <see cref="LogStreamReader"/> over a pipe (header, block
/// decoder, sequence checks), fed in small chunks so that blocks straddle buffer segments.
/// </summary>
public sealed class LogStreamTarget : FuzzTarget
{
    private const int ChunkSize = 97;

    public override string Name => "logstream";

    public override string Description => "log stream: LogHeader, LogBlockCodec, LogStreamReader over a chunked pipe (checksums fixed up)";

    public override void Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = LogChecksums.Fix(input, recording: false);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, minimumSegmentSize: ChunkSize));
        for (int at = 0; at < bytes.Length; at += ChunkSize)
        {
            pipe.Writer.Write(bytes.AsSpan(at, Math.Min(ChunkSize, bytes.Length - at)));
            pipe.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        }
        pipe.Writer.Complete();
        var reader = new LogStreamReader(pipe.Reader);
        var events = reader.ReadEventsAsync().GetAsyncEnumerator();
        try
        {
            while (events.MoveNextAsync().AsTask().GetAwaiter().GetResult())
                if (events.Current is SnapshotPagesEvent pages) SnapshotPageCodec.Decode(pages);
        }
        finally
        {
            events.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        if (!reader.IsComplete) throw new InvariantException("the stream reader stopped before the end marker without an exception");
    }

    public override bool IsContract(Exception e) => e is LogFormatException or InvalidDataException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        yield return ("every-kind", Stream(SeedRecordings.EveryKindEvents(), 64));
        yield return ("one-block", Stream(SeedRecordings.EveryKindEvents().Take(3), 1 << 16));
        yield return ("empty", Stream([], 64));
    }

    private static byte[] Stream(IEnumerable<LogEvent> events, int blockTarget)
    {
        var pipe = new Pipe();
        var writer = new LogStreamWriter(pipe.Writer, blockTarget);
        foreach (var e in events) writer.Append(e);
        writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
        var read = pipe.Reader.ReadAsync().AsTask().GetAwaiter().GetResult();
        byte[] bytes = read.Buffer.ToArray();
        pipe.Reader.Complete();
        return bytes;
    }
}
