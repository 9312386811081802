using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using VmFt.Channel.Framing;

namespace VmFt.Channel.Tests.Framing;

public class FrameCodecTests
{
    private static Frame Make(FrameType type, ulong value, byte[] payload) =>
        new(type, value, new ReadOnlySequence<byte>(payload));

    public static TheoryData<FrameType, ulong, byte[]> EveryType() => new()
    {
        { FrameType.Hello, 0, Enumerable.Range(0, 59).Select(i => (byte)(i * 7)).ToArray() },
        { FrameType.HelloAck, 0, Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray() },
        { FrameType.Reject, 0, [6, (byte)'n', (byte)'o'] },
        { FrameType.LogData, 0xFEDC_BA98_7654_3210, [1, 2, 3, 4, 5, 0, 0xFF] },
        { FrameType.LogData, 1, [] },
        { FrameType.Ack, 42, [] },
        { FrameType.Ack, ulong.MaxValue, [] },
        { FrameType.Heartbeat, 123_456_789_012, [] },
        { FrameType.Goodbye, 0, [1] },
        { FrameType.Goodbye, 0, [] },
        { FrameType.State, 3, [9, 8, 7] },
        { FrameType.State, 1, [] },
    };

    private static byte[] Encode(params Frame[] frames)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (var f in frames)
            FrameCodec.WriteFrame(f, writer);
        return writer.WrittenSpan.ToArray();
    }

    [Theory]
    [MemberData(nameof(EveryType))]
    public void Every_frame_type_round_trips(FrameType type, ulong value, byte[] payload)
    {
        var bytes = Encode(Make(type, value, payload));
        var buffer = new ReadOnlySequence<byte>(bytes);

        Assert.True(FrameCodec.TryParseFrame(ref buffer, out var frame));

        Assert.Equal(type, frame.Type);
        Assert.Equal(value, frame.Value);
        Assert.Equal(payload, frame.Payload.ToArray());
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void Header_is_type_then_little_endian_body_length_then_value()
    {
        var bytes = Encode(Frame.LogData(0x0102030405060708, new byte[] { 0xAA, 0xBB }));

        Assert.Equal((byte)FrameType.LogData, bytes[0]);
        Assert.Equal(10u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(1)));
        Assert.Equal(0x0102030405060708ul, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(5)));
        Assert.Equal(new byte[] { 0xAA, 0xBB }, bytes[13..]);
        Assert.Equal(15, bytes.Length);
    }

    [Fact]
    public void Frames_split_at_every_byte_boundary_parse_the_same()
    {
        var frames = new[]
        {
            Frame.LogData(7, Enumerable.Range(0, 40).Select(i => (byte)i).ToArray()),
            Frame.Ack(7),
            Frame.Heartbeat(99),
            Frame.Body(FrameType.Goodbye, new byte[] { 1, 65 }),
        };
        var bytes = Encode(frames);

        for (int cut = 1; cut < bytes.Length; cut++)
        {
            var buffer = Segment.Split(bytes, cut);
            var parsed = new List<(FrameType, ulong, byte[])>();
            while (FrameCodec.TryParseFrame(ref buffer, out var f))
                parsed.Add((f.Type, f.Value, f.Payload.ToArray()));

            Assert.True(buffer.IsEmpty, $"cut at {cut}");
            Assert.Equal(frames.Length, parsed.Count);
            for (int i = 0; i < frames.Length; i++)
            {
                Assert.Equal(frames[i].Type, parsed[i].Item1);
                Assert.Equal(frames[i].Value, parsed[i].Item2);
                Assert.Equal(frames[i].Payload.ToArray(), parsed[i].Item3);
            }
        }
    }

    [Fact]
    public void Frames_cut_into_single_bytes_parse()
    {
        var frame = Frame.LogData(3, new byte[] { 9, 8, 7, 6 });
        var bytes = Encode(frame);
        var buffer = Segment.Split(bytes, Enumerable.Range(1, bytes.Length - 1).ToArray());

        Assert.True(FrameCodec.TryParseFrame(ref buffer, out var parsed));
        Assert.Equal(3ul, parsed.Value);
        Assert.Equal(new byte[] { 9, 8, 7, 6 }, parsed.Payload.ToArray());
    }

    [Fact]
    public void Every_incomplete_prefix_waits_for_more_and_leaves_the_buffer_alone()
    {
        var bytes = Encode(Frame.LogData(5, new byte[] { 1, 2, 3 }));
        for (int length = 0; length < bytes.Length; length++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes, 0, length);
            Assert.False(FrameCodec.TryParseFrame(ref buffer, out _));
            Assert.Equal(length, buffer.Length);
        }
    }

    private static ChannelProtocolException ParseHeaderOnly(byte type, uint length, int max = 1024)
    {
        var header = new byte[5];
        header[0] = type;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(1), length);
        var buffer = new ReadOnlySequence<byte>(header);
        return Assert.Throws<ChannelProtocolException>(() => FrameCodec.TryParseFrame(ref buffer, max, out _));
    }

    [Fact]
    public void Oversized_length_is_an_error_before_the_body_arrives()
    {
        var e = ParseHeaderOnly((byte)FrameType.LogData, 1025);
        Assert.Contains("exceeds the maximum of 1024", e.Message);
    }

    [Fact]
    public void Length_with_the_top_bit_set_is_an_error_not_an_allocation()
    {
        var e = ParseHeaderOnly((byte)FrameType.Hello, 0xFFFF_FFFF, max: int.MaxValue);
        Assert.Contains("exceeds", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    [InlineData(0x7F)]
    [InlineData(0xFF)]
    public void Unknown_frame_type_is_an_error(byte type)
    {
        var e = ParseHeaderOnly(type, 0);
        Assert.Contains("unknown frame type", e.Message);
    }

    [Theory]
    [InlineData(FrameType.Ack, 7u)]
    [InlineData(FrameType.Ack, 9u)]
    [InlineData(FrameType.Heartbeat, 0u)]
    [InlineData(FrameType.LogData, 4u)]
    public void Value_frames_with_the_wrong_length_are_errors(FrameType type, uint length)
    {
        var e = ParseHeaderOnly((byte)type, length);
        Assert.Contains(type.ToString(), e.Message);
    }

    [Fact]
    public async Task Connection_closed_inside_a_frame_ends_the_read_with_the_bytes_that_arrived()
    {
        // What a peer killed in the middle of writing a frame leaves: the frames before it whole, then part of one.
        var pipe = new Pipe();
        var bytes = Encode(Frame.Ack(7), Frame.LogData(1, new byte[] { 1, 2, 3, 4 }));
        await pipe.Writer.WriteAsync(bytes.AsMemory(0, bytes.Length - 2));
        await pipe.Writer.CompleteAsync();
        var seen = new List<ulong>();

        var read = await FrameReader.ReadAsync(pipe.Reader, 1024, (in Frame f) => { seen.Add(f.Value); return true; }, null, CancellationToken.None);

        Assert.Equal(new ulong[] { 7 }, seen);
        Assert.False(read.Stopped);
        Assert.Equal(Encode(Frame.LogData(1, new byte[] { 1, 2, 3, 4 })).Length - 2, read.PendingBytes);
    }

    [Fact]
    public async Task Reader_delivers_frames_and_reports_a_clean_close()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encode(Frame.Ack(1), Frame.Heartbeat(2), Frame.Ack(3)));
        await pipe.Writer.CompleteAsync();
        var seen = new List<ulong>();

        var read = await FrameReader.ReadAsync(pipe.Reader, 1024, (in Frame f) => { seen.Add(f.Value); return true; }, null, CancellationToken.None);

        Assert.False(read.Stopped);
        Assert.Equal(0, read.PendingBytes);
        Assert.Equal(new ulong[] { 1, 2, 3 }, seen);
    }

    [Fact]
    public async Task Reader_stopped_by_the_handler_leaves_the_rest_in_the_pipe()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encode(Frame.Ack(1), Frame.Ack(2)));
        ulong first = 0, second = 0;

        Assert.True((await FrameReader.ReadAsync(pipe.Reader, 1024, (in Frame f) => { first = f.Value; return false; }, null, CancellationToken.None)).Stopped);
        Assert.True((await FrameReader.ReadAsync(pipe.Reader, 1024, (in Frame f) => { second = f.Value; return false; }, null, CancellationToken.None)).Stopped);

        Assert.Equal(1ul, first);
        Assert.Equal(2ul, second);
    }
}
