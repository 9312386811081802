using System.Buffers;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Tests;

public class LogBlockCodecTests
{
    private static readonly byte[] MaxSerial = Enumerable.Range(0, LogBlockCodec.MaxSerialInputLength).Select(i => (byte)(i * 7)).ToArray();

    public static TheoryData<LogEvent> EdgeEvents() => new()
    {
        new TimeSetEvent(1, 0, 0),
        new TimeSetEvent(1, ulong.MaxValue, ulong.MaxValue),
        new SerialInputEvent(1, 0, 0, []),
        new SerialInputEvent(1, ulong.MaxValue - 1, ulong.MaxValue, [0x00, 0xFF, 0x80, 0x7F]),
        new SerialInputEvent(1, 12345, 1UL << 63, MaxSerial),
        new CheckpointEvent(1, 0, 0),
        new CheckpointEvent(1, ulong.MaxValue, ulong.MaxValue),
        new CheckpointEvent(1, 1UL << 63, 0x0123456789ABCDEF),
        new OutputMarkerEvent(1, 127, 128),
        new OutputMarkerEvent(1, ulong.MaxValue, ulong.MaxValue),
        new GuestExitEvent(1, 0, 0, -1),
        new GuestExitEvent(1, ulong.MaxValue, 255, int.MinValue),
        new GuestExitEvent(1, 1, 2, int.MaxValue),
        new PositionBeaconEvent(1, 0),
        new PositionBeaconEvent(1, ulong.MaxValue),
        new PositionBeaconEvent(ulong.MaxValue, ulong.MaxValue),
        new SnapshotStateEvent(1, 0, [], [], 0),
        new SnapshotStateEvent(1, ulong.MaxValue, new byte[LogBlockCodec.MaxSnapshotStateLength], [1, 2, 3], uint.MaxValue),
        new SnapshotPagesEvent(1, 5, 0, 1, SnapshotPageEncoding.Raw, new byte[4096]),
        new SnapshotPagesEvent(1, 5, uint.MaxValue, LogBlockCodec.MaxSnapshotPagesPerEvent, SnapshotPageEncoding.Deflate, new byte[LogBlockCodec.MaxSnapshotPagesLength]),
        new DiskReadEvent(1, 0, 1, 0, []),
        new DiskReadEvent(1, ulong.MaxValue, ulong.MaxValue, 255, Enumerable.Range(0, LogBlockCodec.MaxDiskReadLength).Select(i => (byte)(i * 13)).ToArray()),
        new DiskCompletionEvent(1, 77, 0, 1),
        new DiskCompletionEvent(1, ulong.MaxValue, ulong.MaxValue, 255),
        new NetReceiveEvent(1, 0, 0, []),
        new NetReceiveEvent(1, ulong.MaxValue, ulong.MaxValue, Enumerable.Range(0, LogBlockCodec.MaxNetFrameLength).Select(i => (byte)(i * 11)).ToArray()),
    };

    [Fact]
    public void A_network_frame_longer_than_the_limit_is_refused()
    {
        var payload = new List<byte> { (byte)LogEventKind.NetReceive, 0, 7 };
        payload.AddRange(VarIntBytes(LogBlockCodec.MaxNetFrameLength + 1));
        byte[] block = TestLogs.CraftBlock(1, 1, payload.ToArray());
        var buffer = new ReadOnlySequence<byte>(block);
        var e = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 0, out _));
        Assert.Contains("network frame", e.Message);
        var tooLong = new NetReceiveEvent(1, 0, 0, new byte[LogBlockCodec.MaxNetFrameLength + 1]);
        Assert.Throws<ArgumentException>(() => LogBlockCodec.WriteBlock([tooLong], new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public void A_disk_read_longer_than_the_limit_is_refused()
    {
        // Written by hand: the writer refuses to produce it.
        var payload = new List<byte> { (byte)LogEventKind.DiskRead, 0, 5, 0 };
        payload.AddRange(VarIntBytes(LogBlockCodec.MaxDiskReadLength + 1));
        byte[] block = TestLogs.CraftBlock(1, 1, payload.ToArray());
        var buffer = new ReadOnlySequence<byte>(block);
        var e = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 0, out _));
        Assert.Contains("disk read data", e.Message);
        var tooLong = new DiskReadEvent(1, 0, 1, 0, new byte[LogBlockCodec.MaxDiskReadLength + 1]);
        Assert.Throws<ArgumentException>(() => LogBlockCodec.WriteBlock([tooLong], new ArrayBufferWriter<byte>()));
    }

    [Theory]
    [InlineData(0u, (byte)0, "with 0 pages")]
    [InlineData(129u, (byte)0, "with 129 pages")]
    [InlineData(1u, (byte)2, "unknown snapshot page encoding 2")]
    public void Malformed_snapshot_pages_are_refused_with_their_offset(uint count, byte encoding, string reason)
    {
        // Written by hand: the writer refuses to produce these.
        var payload = new List<byte> { (byte)LogEventKind.SnapshotPages, 0, 3 };
        payload.AddRange(VarIntBytes(count));
        payload.Add(encoding);
        payload.Add(0); // empty data
        byte[] block = TestLogs.CraftBlock(1, 1, payload.ToArray());
        var buffer = new ReadOnlySequence<byte>(block);
        var e = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 1000, out _));
        Assert.Equal(LogFormatError.Malformed, e.Error);
        Assert.Contains(reason, e.Message);
        Assert.InRange(e.Offset, 1000 + LogBlockCodec.BlockHeaderSize, 1000 + block.Length);
    }

    /// <summary>Unsigned LEB128, as the format defines varints.</summary>
    private static byte[] VarIntBytes(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
        } while (value != 0);
        return bytes.ToArray();
    }

    [Theory]
    [MemberData(nameof(EdgeEvents))]
    public void Every_kind_round_trips_with_edge_values(LogEvent e)
    {
        byte[] block = TestLogs.Block([e]);
        var buffer = new ReadOnlySequence<byte>(block);
        Assert.True(LogBlockCodec.TryReadBlock(ref buffer, 100, out LogBlock? read));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(100, read.Offset);
        Assert.Equal(block.Length, read.Length);
        Assert.Equal(e.Sequence, read.FirstSequence);
        EventAssert.Equal([e], read.Events);
        Assert.Equal(e.Kind, read.Events[0].Kind);
    }

    [Fact]
    public void Positions_may_jump_both_ways_inside_a_block()
    {
        LogEvent[] events =
        [
            new PositionBeaconEvent(7, ulong.MaxValue),
            new TimeSetEvent(8, 0, 5),
            new TimeSetEvent(9, ulong.MaxValue, 6),
            new CheckpointEvent(10, ulong.MaxValue, 1),
            new OutputMarkerEvent(11, 1UL << 63, 9),
            new PositionBeaconEvent(12, (1UL << 63) - 1),
        ];
        var buffer = new ReadOnlySequence<byte>(TestLogs.Block(events));
        Assert.True(LogBlockCodec.TryReadBlock(ref buffer, 0, out LogBlock? read));
        EventAssert.Equal(events, read.Events);
    }

    [Fact]
    public void Encoded_sizes_add_up_to_the_block()
    {
        var random = new Random(11);
        List<LogEvent> events = RandomEvents.List(random, 40);
        long payload = 0;
        ulong previous = 0;
        foreach (LogEvent e in events)
        {
            payload += LogBlockCodec.GetEncodedSize(e, previous);
            previous = e.Position;
        }
        Assert.Equal(LogBlockCodec.BlockHeaderSize + payload + LogBlockCodec.TrailerSize, TestLogs.Block(events).Length);
    }

    [Fact]
    public void Writer_refuses_what_a_reader_would_reject()
    {
        Assert.Throws<ArgumentException>(() => TestLogs.Block([]));
        Assert.Throws<ArgumentException>(() => TestLogs.Block([new PositionBeaconEvent(0, 1)]));
        Assert.Throws<ArgumentException>(() => TestLogs.Block([new PositionBeaconEvent(1, 1), new PositionBeaconEvent(3, 1)]));
        Assert.Throws<ArgumentException>(() => TestLogs.Block([new SerialInputEvent(1, 1, 0, new byte[LogBlockCodec.MaxSerialInputLength + 1])]));
        // Seventeen maximal serial inputs exceed the maximum block payload.
        LogEvent[] tooMany = Enumerable.Range(1, 17).Select(i => (LogEvent)new SerialInputEvent((ulong)i, 1, 0, MaxSerial)).ToArray();
        Assert.Throws<ArgumentException>(() => TestLogs.Block(tooMany));
    }

    [Fact]
    public void Every_proper_prefix_is_incomplete_and_consumes_nothing()
    {
        LogEvent[] events = [new TimeSetEvent(5, 10, 20), new SerialInputEvent(6, 11, 0, [1, 2, 3]), new GuestExitEvent(7, 12, 2, 3)];
        byte[] block = TestLogs.Block(events);
        for (int length = 0; length < block.Length; length++)
        {
            var buffer = new ReadOnlySequence<byte>(block, 0, length);
            Assert.False(LogBlockCodec.TryReadBlock(ref buffer, 0, out LogBlock? read));
            Assert.Null(read);
            Assert.Equal(length, buffer.Length);
        }
    }

    [Fact]
    public void A_block_split_across_segments_at_every_byte_parses()
    {
        LogEvent[] events = [new TimeSetEvent(5, 10, 20), new SerialInputEvent(6, 11, 99, [1, 2, 3, 4, 5]), new CheckpointEvent(7, 12, 0xDEADBEEF)];
        byte[] block = TestLogs.Block(events);
        byte[] twoBlocks = TestLogs.Concat(block, TestLogs.EndMarker(8));
        for (int split = 0; split <= twoBlocks.Length; split++)
        {
            ReadOnlySequence<byte> buffer = TestLogs.Split(twoBlocks, split);
            Assert.True(LogBlockCodec.TryReadBlock(ref buffer, 0, out LogBlock? read));
            EventAssert.Equal(events, read.Events);
            Assert.True(LogBlockCodec.TryReadBlock(ref buffer, block.Length, out LogBlock? end));
            Assert.True(end.IsEndMarker);
            Assert.Equal(8ul, end.FirstSequence);
            Assert.True(buffer.IsEmpty);
        }
    }

    [Fact]
    public void Oversized_length_is_rejected_from_its_four_bytes_alone()
    {
        byte[] length = BitConverter.GetBytes((uint)LogBlockCodec.MaxPayloadLength + 1);
        var buffer = new ReadOnlySequence<byte>(length);
        var ex = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 4242, out _));
        Assert.Equal(LogFormatError.Oversized, ex.Error);
        Assert.Equal(4242, ex.Offset);
        Assert.Contains("4242", ex.Message);

        var huge = new ReadOnlySequence<byte>(BitConverter.GetBytes(uint.MaxValue));
        Assert.Equal(LogFormatError.Oversized, Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref huge, 0, out _)).Error);
    }

    [Fact]
    public void Any_flipped_byte_after_the_length_is_a_checksum_error_at_the_block()
    {
        byte[] block = TestLogs.Block([new TimeSetEvent(5, 10, 20), new SerialInputEvent(6, 11, 0, [1, 2, 3]), new GuestExitEvent(7, 12, 2, 3)]);
        for (int i = 4; i < block.Length; i++)
        {
            for (int bit = 0; bit < 8; bit++)
            {
                byte[] corrupt = (byte[])block.Clone();
                corrupt[i] ^= (byte)(1 << bit);
                var buffer = new ReadOnlySequence<byte>(corrupt);
                LogBlock? read = null;
                var ex = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 777, out read));
                Assert.Equal(LogFormatError.ChecksumMismatch, ex.Error);
                Assert.Equal(777, ex.Offset);
                Assert.Null(read);
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(11)]
    [InlineData(0x80)]
    [InlineData(0xFF)]
    public void Unknown_event_kind_is_rejected_at_the_event(byte kind)
    {
        // A valid beacon, then an event of an undefined kind with a position delta of 0.
        byte[] block = TestLogs.CraftBlock(1, 2, [(byte)LogEventKind.PositionBeacon, 0, kind, 0]);
        var buffer = new ReadOnlySequence<byte>(block);
        var ex = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 1000, out _));
        Assert.Equal(LogFormatError.UnknownEventKind, ex.Error);
        Assert.Equal(1000 + 16 + 2, ex.Offset);
    }

    [Fact]
    public void Oversized_serial_length_inside_a_valid_block_is_rejected_before_allocation()
    {
        // kind, position 0, input offset 0, then a varint length of MaxSerialInputLength + 1 = 0x10001.
        byte[] payload = [(byte)LogEventKind.SerialInput, 0, 0, 0x81, 0x80, 0x04, 1, 2, 3];
        byte[] block = TestLogs.CraftBlock(1, 1, payload);
        var buffer = new ReadOnlySequence<byte>(block);
        var ex = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 0, out _));
        Assert.Equal(LogFormatError.Oversized, ex.Error);
        Assert.Equal(16 + 3, ex.Offset);
    }

    [Fact]
    public void Serial_length_past_the_payload_is_malformed()
    {
        byte[] block = TestLogs.CraftBlock(1, 1, [(byte)LogEventKind.SerialInput, 0, 0, 10, 1, 2]);
        var buffer = new ReadOnlySequence<byte>(block);
        var ex = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 0, out _));
        Assert.Equal(LogFormatError.Malformed, ex.Error);
        Assert.Equal(16 + 3, ex.Offset);
    }

    [Fact]
    public void Counts_and_payloads_that_disagree_are_malformed()
    {
        byte[] beacon = [(byte)LogEventKind.PositionBeacon, 2];
        (byte[] Block, long Offset)[] cases =
        [
            (TestLogs.CraftBlock(1, 2, [(byte)LogEventKind.TimeSet, 2, 0x85, 0x01]), 16 + 4), // second event missing
            (TestLogs.CraftBlock(1, 1, [.. beacon, .. beacon]), 16 + 2),        // bytes left over
            (TestLogs.CraftBlock(1, 0, beacon), 12),                            // an end marker with a payload
            (TestLogs.CraftBlock(1, 5, [.. beacon, .. beacon]), 12),             // more events than could fit
            (TestLogs.CraftBlock(0, 1, beacon), 4),                             // sequence 0
            (TestLogs.CraftBlock(ulong.MaxValue, 2, [.. beacon, .. beacon]), 4), // sequence overflow
            (TestLogs.CraftBlock(1, 1, [(byte)LogEventKind.TimeSet, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]), 16 + 11), // 65-bit varint
            (TestLogs.CraftBlock(1, 1, [(byte)LogEventKind.GuestExit, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x10]), 16 + 3), // status beyond int
        ];
        foreach (var (block, offset) in cases)
        {
            var buffer = new ReadOnlySequence<byte>(block);
            var ex = Assert.Throws<LogFormatException>(() => LogBlockCodec.TryReadBlock(ref buffer, 0, out _));
            Assert.Equal(LogFormatError.Malformed, ex.Error);
            Assert.Equal(offset, ex.Offset);
        }
    }

    [Fact]
    public void Hand_framed_block_matches_the_writer()
    {
        // Two events: TimeSet at position 300 (zigzag 600 = D8 04) to 5 ns, beacon at 301 (delta +1 = zigzag 2).
        byte[] crafted = TestLogs.CraftBlock(9, 2, [(byte)LogEventKind.TimeSet, 0xD8, 0x04, 5, (byte)LogEventKind.PositionBeacon, 2]);
        byte[] written = TestLogs.Block([new TimeSetEvent(9, 300, 5), new PositionBeaconEvent(10, 301)]);
        Assert.Equal(crafted, written);
    }
}
