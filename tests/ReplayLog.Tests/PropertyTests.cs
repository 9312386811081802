using System.Buffers;
using System.IO.Pipelines;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Streams;

namespace VmFt.ReplayLog.Tests;

/// <summary>Seeded random logs: whatever is written reads back; whatever is damaged never reads back wrong.</summary>
public class PropertyTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Random_logs_round_trip_and_random_damage_is_always_caught(int seed)
    {
        var random = new Random(seed);
        for (int iteration = 0; iteration < 1000; iteration++)
        {
            int count = random.Next(4) == 0 ? random.Next(3) : random.Next(1, 60);
            ulong first = random.Next(5) == 0 ? (ulong)random.NextInt64(1, long.MaxValue) : 1;
            List<LogEvent> events = RandomEvents.List(random, count, first);
            int target = random.Next(3) switch { 0 => 1, 1 => random.Next(2, 200), _ => random.Next(200, 70_000) };
            byte[] bytes = await WriteWithRandomFlushesAsync(random, events, target, first);

            var (read, error, complete) = await TestLogs.ReadStreamAsync(bytes, first);
            Assert.Null(error);
            Assert.True(complete);
            EventAssert.Equal(events, read);

            // One damaged byte: an error, and before it only true events.
            byte[] corrupt = (byte[])bytes.Clone();
            int at = random.Next(corrupt.Length);
            corrupt[at] ^= (byte)random.Next(1, 256);
            var (damaged, corruptError, corruptComplete) = await TestLogs.ReadStreamAsync(corrupt, first);
            Assert.True(corruptError is not null, $"seed {seed} iteration {iteration}: byte {at} changed unnoticed");
            Assert.False(corruptComplete);
            Assert.True(corruptError.Offset <= at, $"seed {seed} iteration {iteration}: byte {at} reported at {corruptError.Offset}");
            EventAssert.IsPrefix(events, damaged);

            // A cut: truncation, reported no later than the cut, with only true events before it.
            int length = random.Next(bytes.Length);
            var (cut, cutError, _) = await TestLogs.ReadStreamAsync(bytes.AsMemory(0, length), first);
            Assert.IsType<LogTruncatedException>(cutError);
            Assert.True(cutError.Offset <= length);
            EventAssert.IsPrefix(events, cut);
        }
    }

    [Fact]
    public void Random_blocks_parse_identically_from_any_two_segments()
    {
        var random = new Random(20);
        for (int iteration = 0; iteration < 2000; iteration++)
        {
            List<LogEvent> events = RandomEvents.List(random, random.Next(1, 20), (ulong)random.Next(1, 1000));
            byte[] block = TestLogs.Block(events);
            ReadOnlySequence<byte> buffer = TestLogs.Split(block, random.Next(block.Length + 1));
            Assert.True(LogBlockCodec.TryReadBlock(ref buffer, 0, out LogBlock? read));
            Assert.True(buffer.IsEmpty);
            EventAssert.Equal(events, read.Events);
        }
    }

    private static async Task<byte[]> WriteWithRandomFlushesAsync(Random random, List<LogEvent> events, int target, ulong first)
    {
        var memory = new MemoryStream();
        var writer = new LogStreamWriter(PipeWriter.Create(memory), target, first);
        foreach (LogEvent e in events)
        {
            await writer.WriteAsync(e);
            if (random.Next(8) == 0) await writer.FlushAsync();
        }
        await writer.CompleteAsync();
        return memory.ToArray();
    }
}
