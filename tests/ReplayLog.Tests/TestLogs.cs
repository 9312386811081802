using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Streams;

namespace VmFt.ReplayLog.Tests;

/// <summary>Builds logs in memory and reads them back, collecting what was read before any error.</summary>
internal static class TestLogs
{
    public static async Task<byte[]> WriteStreamAsync(IReadOnlyList<LogEvent> events, int blockTarget = LogStreamWriter.DefaultBlockTargetLength, bool complete = true, ulong firstSequence = 1)
    {
        var memory = new MemoryStream();
        var writer = new LogStreamWriter(PipeWriter.Create(memory, new StreamPipeWriterOptions(leaveOpen: true)), blockTarget, firstSequence);
        foreach (LogEvent e in events) await writer.WriteAsync(e);
        if (complete) await writer.CompleteAsync();
        else await writer.AbandonAsync();
        return memory.ToArray();
    }

    public static async Task<(List<LogEvent> Events, LogFormatException? Error, bool Complete)> ReadStreamAsync(ReadOnlyMemory<byte> bytes, ulong firstSequence = 1)
    {
        var reader = new LogStreamReader(PipeReader.Create(new ReadOnlySequence<byte>(bytes)), firstSequence);
        var events = new List<LogEvent>();
        try
        {
            await foreach (LogEvent e in reader.ReadEventsAsync()) events.Add(e);
        }
        catch (LogFormatException ex)
        {
            return (events, ex, reader.IsComplete);
        }
        return (events, null, reader.IsComplete);
    }

    public static byte[] Header(LogContentKind kind = LogContentKind.Stream)
    {
        var output = new ArrayBufferWriter<byte>();
        LogHeader.Write(kind, output);
        return output.WrittenSpan.ToArray();
    }

    public static byte[] Block(IReadOnlyList<LogEvent> events)
    {
        var output = new ArrayBufferWriter<byte>();
        LogBlockCodec.WriteBlock(events, output);
        return output.WrittenSpan.ToArray();
    }

    public static byte[] EndMarker(ulong next)
    {
        var output = new ArrayBufferWriter<byte>();
        LogBlockCodec.WriteEndMarker(next, output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>A block framed by hand from the documented layout, with a correct checksum over whatever payload is given.</summary>
    public static byte[] CraftBlock(ulong firstSequence, uint count, byte[] payload)
    {
        var block = new byte[16 + payload.Length + 4];
        BinaryPrimitives.WriteUInt32LittleEndian(block, (uint)payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(block.AsSpan(4), firstSequence);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(12), count);
        payload.CopyTo(block, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(16 + payload.Length), Crc32C.Compute(block.AsSpan(0, 16 + payload.Length)));
        return block;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Offsets and event counts of the blocks of a well-formed stream (header excluded), parsed with the pure parser.</summary>
    public static List<LogBlock> Blocks(byte[] stream)
    {
        var buffer = new ReadOnlySequence<byte>(stream).Slice(LogHeader.Size);
        var blocks = new List<LogBlock>();
        long offset = LogHeader.Size;
        while (LogBlockCodec.TryReadBlock(ref buffer, offset, out LogBlock? block))
        {
            blocks.Add(block);
            offset += block.Length;
        }
        Assert.True(buffer.IsEmpty);
        return blocks;
    }

    /// <summary>A sequence made of two segments split at <paramref name="split"/>, to exercise parsing across segments.</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int split)
    {
        var first = new Segment(bytes.AsMemory(0, split), 0);
        var second = first.Append(bytes.AsMemory(split));
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
