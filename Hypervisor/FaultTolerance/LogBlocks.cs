using System.Buffers;
using VmFt.Channel;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>Log batches as LogData frame bodies: one or more checksummed blocks.</summary>
public static class LogBlocks
{
    private const int EventsPerBlock = 256;

    /// <summary>Ships <paramref name="events"/> (consecutive sequences) over the channel, a block per frame.</summary>
    /// <returns>The bytes put on the channel.</returns>
    public static async ValueTask<long> SendAsync(LogChannel channel, List<LogEvent> events, CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var (last, bytes) in Encode(events))
        {
            await channel.SendLogAsync(last, bytes, cancellationToken).ConfigureAwait(false);
            total += bytes.Length;
        }
        return total;
    }

    /// <summary>The LogData frame bodies for <paramref name="events"/> (consecutive sequences): each frame's last sequence and its blocks.</summary>
    public static IEnumerable<(ulong LastSequence, ReadOnlyMemory<byte> Bytes)> Encode(List<LogEvent> events)
    {
        for (int start = 0; start < events.Count; start += EventsPerBlock)
        {
            var chunk = events.GetRange(start, Math.Min(EventsPerBlock, events.Count - start));
            var writer = new ArrayBufferWriter<byte>();
            LogBlockCodec.WriteBlock(chunk, writer);
            yield return (chunk[^1].Sequence, writer.WrittenMemory);
        }
    }

    /// <summary>The events of one received segment.</summary>
    /// <exception cref="LogFormatException">The bytes are not whole, valid blocks.</exception>
    public static List<LogEvent> Decode(LogSegment segment)
    {
        var events = new List<LogEvent>();
        var buffer = new ReadOnlySequence<byte>(segment.Bytes);
        while (buffer.Length > 0)
        {
            if (!LogBlockCodec.TryReadBlock(ref buffer, 0, out var block))
                throw new LogFormatException(LogFormatError.Malformed, 0, $"log segment ending at #{segment.LastSequence} holds a truncated block");
            events.AddRange(block.Events);
        }
        return events;
    }
}
