using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Streams;

namespace VmFt.ReplayLog.Tests;

public class LogStreamTests
{
    private static List<LogEvent> Sample(int count, int seed = 1) => RandomEvents.List(new Random(seed), count);

    [Fact]
    public async Task Many_blocks_round_trip()
    {
        List<LogEvent> events = Sample(5000);
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 512);
        Assert.True(TestLogs.Blocks(bytes).Count > 100);
        var (read, error, complete) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Null(error);
        Assert.True(complete);
        EventAssert.Equal(events, read);
    }

    [Fact]
    public async Task Blocks_stay_near_the_target_and_never_exceed_the_maximum()
    {
        List<LogEvent> events = Sample(3000, seed: 2);
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 1000);
        foreach (LogBlock block in TestLogs.Blocks(bytes).Where(b => !b.IsEndMarker))
        {
            int payload = block.Length - LogBlockCodec.BlockHeaderSize - LogBlockCodec.TrailerSize;
            // A block only exceeds its target when a single event is larger than the target.
            Assert.True(payload <= 1000 || block.Events.Count == 1, $"block at {block.Offset}: {payload} bytes, {block.Events.Count} events");
        }
    }

    [Fact]
    public async Task An_empty_log_is_a_header_and_an_end_marker()
    {
        byte[] bytes = await TestLogs.WriteStreamAsync([]);
        Assert.Equal(LogHeader.Size + LogBlockCodec.BlockHeaderSize + LogBlockCodec.TrailerSize, bytes.Length);
        var (read, error, complete) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Null(error);
        Assert.True(complete);
        Assert.Empty(read);
    }

    [Fact]
    public async Task Flush_closes_a_block_before_the_target()
    {
        var pipe = new Pipe();
        var writer = new LogStreamWriter(pipe.Writer, blockTargetLength: 1 << 20);
        Assert.False(writer.Append(new PositionBeaconEvent(1, 10)));
        await writer.FlushAsync();
        ReadResult result = await pipe.Reader.ReadAsync();
        Assert.Equal(LogHeader.Size + LogBlockCodec.BlockHeaderSize + 2 + LogBlockCodec.TrailerSize, result.Buffer.Length);
        pipe.Reader.AdvanceTo(result.Buffer.Start);
    }

    [Fact]
    public async Task A_stream_split_at_every_byte_waits_for_incomplete_blocks_and_never_errs()
    {
        List<LogEvent> events = Sample(12, seed: 3).Select(e => e is SerialInputEvent s && s.Data.Length > 40 ? s with { Data = s.Data[..40] } : e).ToList();
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 60);
        List<LogBlock> blocks = TestLogs.Blocks(bytes);
        Assert.True(blocks.Count > 3);

        for (int split = 0; split <= bytes.Length; split++)
        {
            // The events of the blocks wholly inside the first part, and whether the end marker is.
            int available = blocks.Where(b => b.Offset + b.Length <= split).Sum(b => b.Events.Count);
            bool ended = split == bytes.Length;

            var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
            await pipe.Writer.WriteAsync(bytes.AsMemory(0, split));
            var reader = new LogStreamReader(pipe.Reader);
            await using IAsyncEnumerator<LogEvent> enumerator = reader.ReadEventsAsync().GetAsyncEnumerator();
            var read = new List<LogEvent>();
            for (int i = 0; i < available; i++)
            {
                ValueTask<bool> next = enumerator.MoveNextAsync();
                Assert.True(next.IsCompleted, $"split {split}: event {i} is in the first part but was not available");
                Assert.True(await next);
                read.Add(enumerator.Current);
            }
            ValueTask<bool> pending = enumerator.MoveNextAsync();
            if (ended)
            {
                Assert.True(pending.IsCompleted);
                Assert.False(await pending);
            }
            else
            {
                // Incomplete: the reader waits rather than failing or inventing events.
                Assert.False(pending.IsCompleted, $"split {split}: reader did not wait for the rest");
                await pipe.Writer.WriteAsync(bytes.AsMemory(split));
                await pipe.Writer.CompleteAsync();
                while (await pending)
                {
                    read.Add(enumerator.Current);
                    pending = enumerator.MoveNextAsync();
                }
            }
            EventAssert.Equal(events, read);
            Assert.True(reader.IsComplete);
        }
    }

    [Fact]
    public async Task A_stream_arriving_one_byte_at_a_time_parses()
    {
        List<LogEvent> events = Sample(60, seed: 4).Select(e => e is SerialInputEvent s && s.Data.Length > 40 ? s with { Data = s.Data[..40] } : e).ToList();
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 100);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        Task feed = Task.Run(async () =>
        {
            for (int i = 0; i < bytes.Length; i++) await pipe.Writer.WriteAsync(bytes.AsMemory(i, 1));
            await pipe.Writer.CompleteAsync();
        });
        var read = new List<LogEvent>();
        await foreach (LogEvent e in new LogStreamReader(pipe.Reader).ReadEventsAsync()) read.Add(e);
        await feed;
        EventAssert.Equal(events, read);
    }

    [Fact]
    public async Task Writer_and_reader_over_a_pipe_with_back_pressure()
    {
        List<LogEvent> events = Sample(4000, seed: 5);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4096, resumeWriterThreshold: 1024));
        Task produce = Task.Run(async () =>
        {
            var writer = new LogStreamWriter(pipe.Writer, blockTargetLength: 700);
            foreach (LogEvent e in events) await writer.WriteAsync(e);
            await writer.CompleteAsync();
        });
        var read = new List<LogEvent>();
        await foreach (LogEvent e in new LogStreamReader(pipe.Reader).ReadEventsAsync()) read.Add(e);
        await produce;
        EventAssert.Equal(events, read);
    }

    [Fact]
    public async Task A_stream_may_start_at_a_later_sequence()
    {
        List<LogEvent> events = RandomEvents.List(new Random(6), 50, firstSequence: 1000);
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 100, firstSequence: 1000);
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes, firstSequence: 1000);
        Assert.Null(error);
        EventAssert.Equal(events, read);

        var (none, gap, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Empty(none);
        Assert.Equal(LogFormatError.SequenceGap, gap!.Error);
        Assert.Equal(LogHeader.Size, gap.Offset);
    }

    [Fact]
    public void Writer_rejects_out_of_order_and_oversized_events()
    {
        var writer = new LogStreamWriter(new Pipe().Writer);
        Assert.Throws<ArgumentException>(() => writer.Append(new PositionBeaconEvent(2, 0)));
        writer.Append(new PositionBeaconEvent(1, 0));
        Assert.Throws<ArgumentException>(() => writer.Append(new PositionBeaconEvent(1, 0)));
        Assert.Throws<ArgumentException>(() => writer.Append(new SerialInputEvent(2, 0, 0, new byte[LogBlockCodec.MaxSerialInputLength + 1])));
        // A refused event does not use up its sequence number.
        writer.Append(new SerialInputEvent(2, 0, 0, new byte[LogBlockCodec.MaxSerialInputLength]));
        Assert.Equal(3ul, writer.NextSequence);
    }

    [Fact]
    public async Task Bad_magic_is_rejected_at_offset_zero_without_waiting_for_a_whole_header()
    {
        byte[] bytes = await TestLogs.WriteStreamAsync(Sample(3));
        bytes[0] ^= 0x20;
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Empty(read);
        Assert.Equal(LogFormatError.BadMagic, error!.Error);
        Assert.Equal(0, error.Offset);

        var partial = new ReadOnlySequence<byte>("GIF"u8.ToArray());
        Assert.Equal(LogFormatError.BadMagic, Assert.Throws<LogFormatException>(() => LogHeader.TryRead(ref partial, out _)).Error);
    }

    [Theory]
    [InlineData(LogHeader.CurrentVersion + 1, "newer")]
    [InlineData(ushort.MaxValue, "newer")]
    [InlineData(0, "not supported")]
    public async Task Other_versions_are_rejected(int version, string reason)
    {
        byte[] bytes = await TestLogs.WriteStreamAsync(Sample(3));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)version);
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Empty(read);
        Assert.Equal(LogFormatError.UnsupportedVersion, error!.Error);
        Assert.Equal(8, error.Offset);
        Assert.Contains(reason, error.Message);
        Assert.Contains($"version {version}", error.Message);
    }

    [Theory]
    [InlineData(10, 17)]   // header length
    [InlineData(12, 9)]    // content kind
    [InlineData(13, 1)]    // reserved
    [InlineData(15, 0x80)] // reserved
    public async Task Other_header_fields_are_checked(int offset, byte value)
    {
        byte[] bytes = await TestLogs.WriteStreamAsync(Sample(3));
        bytes[offset] = value;
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Empty(read);
        Assert.Equal(LogFormatError.BadHeader, error!.Error);
        Assert.Equal(offset, error.Offset);
    }

    [Fact]
    public async Task A_recording_is_not_a_log_stream()
    {
        byte[] bytes = await TestLogs.WriteStreamAsync(Sample(3));
        bytes[12] = (byte)LogContentKind.Recording;
        var (_, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Equal(LogFormatError.WrongContentKind, error!.Error);
    }

    [Fact]
    public async Task Every_flipped_byte_is_caught_at_its_block_and_only_earlier_blocks_are_delivered()
    {
        List<LogEvent> events = Sample(40, seed: 7).Select(e => e is SerialInputEvent s && s.Data.Length > 20 ? s with { Data = s.Data[..20] } : e).ToList();
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 80);
        List<LogBlock> blocks = TestLogs.Blocks(bytes);
        for (int i = 0; i < bytes.Length; i++)
        {
            byte[] corrupt = (byte[])bytes.Clone();
            corrupt[i] ^= 0x10;
            var (read, error, complete) = await TestLogs.ReadStreamAsync(corrupt);
            Assert.NotNull(error);
            Assert.False(complete);
            if (i < LogHeader.Size)
            {
                Assert.Empty(read);
                Assert.True(error.Offset <= i, $"byte {i}: error at {error.Offset}");
                continue;
            }
            LogBlock hit = blocks.Single(b => b.Offset <= i && i < b.Offset + b.Length);
            Assert.True(error.Offset == hit.Offset, $"byte {i} of block at {hit.Offset}: {error.Message}");
            if (i >= hit.Offset + 4) Assert.Equal(LogFormatError.ChecksumMismatch, error.Error);
            int before = blocks.TakeWhile(b => b != hit).Sum(b => b.Events.Count);
            EventAssert.Equal(events.Take(before).ToList(), read);
        }
    }

    [Fact]
    public async Task Every_truncation_delivers_the_complete_blocks_then_reports_where_the_valid_part_ends()
    {
        List<LogEvent> events = Sample(30, seed: 8).Select(e => e is SerialInputEvent s && s.Data.Length > 20 ? s with { Data = s.Data[..20] } : e).ToList();
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 70);
        List<LogBlock> blocks = TestLogs.Blocks(bytes);
        for (int length = 0; length < bytes.Length; length++)
        {
            var (read, error, complete) = await TestLogs.ReadStreamAsync(bytes.AsMemory(0, length));
            Assert.IsType<LogTruncatedException>(error);
            Assert.False(complete);
            List<LogBlock> whole = blocks.Where(b => b.Offset + b.Length <= length).ToList();
            long validEnd = length < LogHeader.Size ? 0 : whole.Count == 0 ? LogHeader.Size : whole[^1].Offset + whole[^1].Length;
            Assert.Equal(validEnd, error.Offset);
            EventAssert.Equal(events.Take(whole.Sum(b => b.Events.Count)).ToList(), read);
        }
    }

    [Fact]
    public async Task A_writer_that_gives_up_leaves_a_truncated_log_with_all_its_events()
    {
        List<LogEvent> events = Sample(25, seed: 9);
        byte[] bytes = await TestLogs.WriteStreamAsync(events, blockTarget: 200, complete: false);
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.IsType<LogTruncatedException>(error);
        Assert.Equal(bytes.Length, error.Offset);
        EventAssert.Equal(events, read);
    }

    [Fact]
    public async Task Sequence_gap_is_rejected_at_the_block_that_skips()
    {
        byte[] first = TestLogs.Block([new PositionBeaconEvent(1, 1), new PositionBeaconEvent(2, 2), new PositionBeaconEvent(3, 3)]);
        byte[] second = TestLogs.Block([new PositionBeaconEvent(5, 5), new PositionBeaconEvent(6, 6)]);
        byte[] bytes = TestLogs.Concat(TestLogs.Header(), first, second, TestLogs.EndMarker(7));
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Equal(3, read.Count);
        Assert.Equal(LogFormatError.SequenceGap, error!.Error);
        Assert.Equal(LogHeader.Size + first.Length, error.Offset);
        Assert.Contains("expected 4", error.Message);
    }

    [Fact]
    public async Task Sequence_repeat_is_rejected_at_the_block_that_repeats()
    {
        byte[] first = TestLogs.Block([new PositionBeaconEvent(1, 1), new PositionBeaconEvent(2, 2), new PositionBeaconEvent(3, 3)]);
        byte[] second = TestLogs.Block([new PositionBeaconEvent(3, 3), new PositionBeaconEvent(4, 4)]);
        byte[] bytes = TestLogs.Concat(TestLogs.Header(), first, second, TestLogs.EndMarker(5));
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Equal(3, read.Count);
        Assert.Equal(LogFormatError.SequenceRepeat, error!.Error);
        Assert.Equal(LogHeader.Size + first.Length, error.Offset);
    }

    [Theory]
    [InlineData(3ul, LogFormatError.SequenceRepeat)]
    [InlineData(5ul, LogFormatError.SequenceGap)]
    public async Task The_end_marker_must_count_every_event(ulong next, LogFormatError expected)
    {
        byte[] first = TestLogs.Block([new PositionBeaconEvent(1, 1), new PositionBeaconEvent(2, 2), new PositionBeaconEvent(3, 3)]);
        byte[] bytes = TestLogs.Concat(TestLogs.Header(), first, TestLogs.EndMarker(next));
        var (read, error, complete) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Equal(3, read.Count);
        Assert.False(complete);
        Assert.Equal(expected, error!.Error);
        Assert.Equal(LogHeader.Size + first.Length, error.Offset);
    }

    [Fact]
    public async Task Unknown_event_kind_stops_the_stream_after_the_good_blocks()
    {
        byte[] first = TestLogs.Block([new PositionBeaconEvent(1, 1)]);
        byte[] bad = TestLogs.CraftBlock(2, 1, [42, 0]);
        byte[] bytes = TestLogs.Concat(TestLogs.Header(), first, bad, TestLogs.EndMarker(3));
        var (read, error, _) = await TestLogs.ReadStreamAsync(bytes);
        Assert.Single(read);
        Assert.Equal(LogFormatError.UnknownEventKind, error!.Error);
        Assert.Equal(LogHeader.Size + first.Length + 16, error.Offset);
    }

    [Fact]
    public async Task Oversized_block_length_in_a_live_stream_fails_at_once()
    {
        byte[] first = TestLogs.Block([new PositionBeaconEvent(1, 1)]);
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(TestLogs.Concat(TestLogs.Header(), first, BitConverter.GetBytes(0x7FFF_FFFFu)));
        // The writer never completes: the reader must not wait for two gigabytes that will not fit anyway.
        var read = new List<LogEvent>();
        var ex = await Assert.ThrowsAsync<LogFormatException>(async () =>
        {
            await foreach (LogEvent e in new LogStreamReader(pipe.Reader).ReadEventsAsync()) read.Add(e);
        });
        Assert.Single(read);
        Assert.Equal(LogFormatError.Oversized, ex.Error);
        Assert.Equal(LogHeader.Size + first.Length, ex.Offset);
    }

    [Fact]
    public async Task A_cancelled_wait_is_a_cancellation_not_a_truncation()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(TestLogs.Header());
        using var cts = new CancellationTokenSource();
        var reader = new LogStreamReader(pipe.Reader);
        Task<List<LogEvent>> reading = Task.Run(async () =>
        {
            var read = new List<LogEvent>();
            await foreach (LogEvent e in reader.ReadEventsAsync(cts.Token)) read.Add(e);
            return read;
        });
        await pipe.Writer.WriteAsync(TestLogs.Block([new PositionBeaconEvent(1, 1)]).AsMemory(0, 10));
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
    }
}
