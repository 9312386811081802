using System.IO.Pipelines;
using System.Text;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Recording;

namespace VmFt.ReplayLog.Tests;

public class RecordingTests
{
    private static readonly byte[] Image = Enumerable.Range(0, 5000).Select(i => (byte)(i * 31 + 7)).ToArray();

    private static RecordingHeader Header(bool embed) => new()
    {
        RamSize = 64UL << 20,
        NanosecondsPerInstruction = 10,
        BootTimeUnixNanoseconds = 1_767_225_600_000_000_000,
        TscHz = 2_400_000_000,
        ClockMode = ClockMode.Realtime,
        ImageName = "kvstore.elf \u00e9\u6f22",
        ImageSha256 = RecordingHeader.HashImage(Image),
        Image = embed ? Image : null,
        KernelCommandLine = "console=ttyS0 seed=42",
    };

    private static async Task<byte[]> WriteAsync(RecordingHeader header, IReadOnlyList<LogEvent> events, bool complete = true, int blockTarget = 256)
    {
        var memory = new MemoryStream();
        await using (var writer = new RecordingWriter(memory, header, blockTarget, leaveOpen: true))
        {
            foreach (LogEvent e in events) await writer.WriteAsync(e);
            if (complete) await writer.CompleteAsync();
        }
        return memory.ToArray();
    }

    private static void AssertSameHeader(RecordingHeader expected, RecordingHeader actual)
    {
        Assert.Equal(expected.RamSize, actual.RamSize);
        Assert.Equal(expected.NanosecondsPerInstruction, actual.NanosecondsPerInstruction);
        Assert.Equal(expected.BootTimeUnixNanoseconds, actual.BootTimeUnixNanoseconds);
        Assert.Equal(expected.TscHz, actual.TscHz);
        Assert.Equal(expected.ClockMode, actual.ClockMode);
        Assert.Equal(expected.ImageName, actual.ImageName);
        Assert.Equal(expected.ImageSha256, actual.ImageSha256);
        Assert.Equal(expected.Image, actual.Image);
        Assert.Equal(expected.KernelCommandLine, actual.KernelCommandLine);
        Assert.Equal(expected.InitrdName, actual.InitrdName);
        Assert.Equal(expected.InitrdSha256, actual.InitrdSha256);
        Assert.Equal(expected.Initrd, actual.Initrd);
        Assert.Equal(expected.DiskSectors, actual.DiskSectors);
        Assert.Equal(expected.DiskReadOnly, actual.DiskReadOnly);
        Assert.Equal(expected.DiskName, actual.DiskName);
        Assert.Equal(expected.NetworkMac, actual.NetworkMac);
    }

    [Fact]
    public async Task The_network_card_round_trips_with_and_without_a_disk()
    {
        byte[] mac = [0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF];
        foreach (var header in new[] { Header(false) with { NetworkMac = mac }, Header(true) with { NetworkMac = mac, DiskSectors = 8, DiskName = "d" } })
        {
            byte[] bytes = await WriteAsync(header, RandomEvents.List(new Random(4), 20));
            AssertSameHeader(header, RecordingReader.ReadAll(bytes).Header);
        }
        Assert.Null(RecordingReader.ReadAll(await WriteAsync(Header(false), [])).Header.NetworkMac);
        await Assert.ThrowsAsync<ArgumentException>(() => WriteAsync(Header(false) with { NetworkMac = [1, 2, 3] }, []));
    }

    [Theory]
    [InlineData(1UL, false, "")]
    [InlineData(18432UL, true, "/tmp/disk.img")]
    [InlineData(ulong.MaxValue, false, "d")]
    public async Task The_disk_round_trips(ulong sectors, bool readOnly, string name)
    {
        RecordingHeader header = Header(false) with { DiskSectors = sectors, DiskReadOnly = readOnly, DiskName = name };
        byte[] bytes = await WriteAsync(header, RandomEvents.List(new Random(3), 20));
        AssertSameHeader(header, RecordingReader.ReadAll(bytes).Header);
        Assert.Null(RecordingReader.ReadAll(await WriteAsync(Header(false), [])).Header.DiskSectors);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Round_trip(bool embed)
    {
        RecordingHeader header = Header(embed);
        List<LogEvent> events = RandomEvents.List(new Random(embed ? 1 : 2), 500);
        byte[] bytes = await WriteAsync(header, events);

        RecordingContents contents = RecordingReader.ReadAll(bytes);
        Assert.True(contents.IsComplete);
        AssertSameHeader(header, contents.Header);
        EventAssert.Equal(events, contents.Events);
    }

    [Fact]
    public async Task Round_trip_through_a_file_with_extreme_header_values()
    {
        RecordingHeader header = Header(embed: true) with
        {
            RamSize = ulong.MaxValue,
            NanosecondsPerInstruction = 0,
            BootTimeUnixNanoseconds = long.MinValue,
            TscHz = 1,
            ClockMode = ClockMode.Virtual,
            ImageName = "",
            Image = [],
            ImageSha256 = RecordingHeader.HashImage([]),
            KernelCommandLine = new string('x', 65536),
        };
        string path = Path.Combine(Path.GetTempPath(), $"vmft-recording-{Guid.NewGuid():N}.vmftrec");
        try
        {
            List<LogEvent> events = RandomEvents.List(new Random(3), 100);
            await using (RecordingWriter writer = RecordingWriter.Create(path, header))
            {
                foreach (LogEvent e in events) writer.Append(e);
                await writer.CompleteAsync();
            }
            RecordingContents contents = RecordingReader.ReadFile(path);
            Assert.True(contents.IsComplete);
            AssertSameHeader(header, contents.Header);
            EventAssert.Equal(events, contents.Events);

            await using FileStream stream = File.OpenRead(path);
            RecordingContents viaStream = await RecordingReader.ReadAllAsync(stream);
            EventAssert.Equal(events, viaStream.Events);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_recording_never_completed_yields_its_events_then_truncation()
    {
        List<LogEvent> events = RandomEvents.List(new Random(4), 300);
        byte[] bytes = await WriteAsync(Header(false), events, complete: false);

        var ex = Assert.Throws<LogTruncatedException>(() => RecordingReader.ReadAll(bytes));
        Assert.Equal(bytes.Length, ex.Offset);

        RecordingContents contents = RecordingReader.ReadAll(bytes, allowTruncated: true);
        Assert.False(contents.IsComplete);
        Assert.Equal(bytes.Length, contents.Truncation!.Offset);
        EventAssert.Equal(events, contents.Events);
    }

    [Fact]
    public async Task A_cut_recording_yields_every_complete_block_then_the_truncation_offset()
    {
        List<LogEvent> events = RandomEvents.List(new Random(5), 200).Select(e => e is SerialInputEvent s ? s with { Data = s.Data[..Math.Min(30, s.Data.Length)] } : e).ToList();
        byte[] bytes = await WriteAsync(Header(false), events, blockTarget: 300);
        // Where the blocks start: after the log header and the recording header section.
        int sectionLength = BitConverter.ToInt32(bytes, LogHeader.Size) + 8;
        long firstBlock = LogHeader.Size + sectionLength;
        var blockEnds = new List<(long End, int Events)>();
        {
            var buffer = new System.Buffers.ReadOnlySequence<byte>(bytes).Slice(firstBlock);
            long offset = firstBlock;
            int seen = 0;
            while (LogBlockCodec.TryReadBlock(ref buffer, offset, out LogBlock? block))
            {
                offset += block.Length;
                seen += block.Events.Count;
                blockEnds.Add((offset, seen));
            }
        }
        Assert.True(blockEnds.Count > 5);

        var random = new Random(6);
        for (int n = 0; n < 200; n++)
        {
            int length = n < 50 ? n * (int)firstBlock / 50 : random.Next((int)firstBlock, bytes.Length);
            RecordingContents? contents = null;
            var ex = Record.Exception(() => contents = RecordingReader.ReadAll(bytes.AsMemory(0, length), allowTruncated: true));
            if (length < firstBlock)
            {
                // Inside the headers there is nothing to salvage: the header itself is truncated.
                Assert.IsType<LogTruncatedException>(ex);
                Assert.True(ex is LogTruncatedException t && t.Offset <= length);
                continue;
            }
            Assert.Null(ex);
            var done = blockEnds.Where(b => b.End <= length).ToList();
            long validEnd = done.Count == 0 ? firstBlock : done[^1].End;
            Assert.Equal(validEnd, contents!.Truncation!.Offset);
            EventAssert.Equal(events.Take(done.Count == 0 ? 0 : done[^1].Events).ToList(), contents.Events);
        }
    }

    [Fact]
    public async Task Streaming_reader_delivers_events_before_reporting_truncation()
    {
        List<LogEvent> events = RandomEvents.List(new Random(7), 100);
        byte[] bytes = await WriteAsync(Header(true), events, complete: false);
        await using RecordingReader reader = await RecordingReader.OpenAsync(new MemoryStream(bytes[..^3]));
        AssertSameHeader(Header(true), reader.Header);
        var read = new List<LogEvent>();
        var ex = await Assert.ThrowsAsync<LogTruncatedException>(async () =>
        {
            await foreach (LogEvent e in reader.ReadEventsAsync()) read.Add(e);
        });
        Assert.NotEmpty(read);
        EventAssert.IsPrefix(events, read);
        Assert.True(read.Count < events.Count);
        Assert.False(reader.IsComplete);
        Assert.Contains("inside a block", ex.Message);
    }

    [Fact]
    public async Task Bytes_after_the_end_marker_are_rejected()
    {
        byte[] bytes = await WriteAsync(Header(false), RandomEvents.List(new Random(8), 10));
        byte[] longer = [.. bytes, 0];
        var ex = Assert.Throws<LogFormatException>(() => RecordingReader.ReadAll(longer));
        Assert.Equal(LogFormatError.TrailingData, ex.Error);
        Assert.Equal(bytes.Length, ex.Offset);
    }

    [Fact]
    public async Task Every_flipped_byte_of_the_recording_header_is_caught()
    {
        byte[] bytes = await WriteAsync(Header(true), RandomEvents.List(new Random(9), 5));
        int sectionEnd = LogHeader.Size + BitConverter.ToInt32(bytes, LogHeader.Size) + 8;
        for (int i = LogHeader.Size; i < sectionEnd; i += i < LogHeader.Size + 64 ? 1 : 97)
        {
            byte[] corrupt = (byte[])bytes.Clone();
            corrupt[i] ^= 0x01;
            var ex = Assert.ThrowsAny<LogFormatException>(() => RecordingReader.ReadAll(corrupt));
            Assert.Equal(LogHeader.Size, ex.Offset);
            if (i >= LogHeader.Size + 4) Assert.Equal(LogFormatError.ChecksumMismatch, ex.Error);
        }
    }

    [Fact]
    public async Task A_log_stream_is_not_a_recording_and_the_reverse()
    {
        byte[] stream = await TestLogs.WriteStreamAsync([new PositionBeaconEvent(1, 1)]);
        Assert.Equal(LogFormatError.WrongContentKind, Assert.Throws<LogFormatException>(() => RecordingReader.ReadAll(stream)).Error);

        byte[] recording = await WriteAsync(Header(false), [new PositionBeaconEvent(1, 1)]);
        var (_, error, _) = await TestLogs.ReadStreamAsync(recording);
        Assert.Equal(LogFormatError.WrongContentKind, error!.Error);
    }

    [Fact]
    public void An_empty_file_is_a_truncated_recording()
    {
        var ex = Assert.Throws<LogTruncatedException>(() => RecordingReader.ReadAll(Array.Empty<byte>()));
        Assert.Equal(0, ex.Offset);
    }

    [Fact]
    public void Writer_rejects_an_inconsistent_header()
    {
        var stream = new MemoryStream();
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, Header(true) with { ImageSha256 = new byte[32] }));
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, Header(false) with { ImageSha256 = new byte[31] }));
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, Header(false) with { ClockMode = (ClockMode)7 }));
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, Header(false) with { ImageName = new string('n', 1025) }));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public async Task An_embedded_image_must_match_its_hash_even_with_a_valid_checksum()
    {
        byte[] bytes = await WriteAsync(Header(true), []);
        // Change one image byte and repair the section checksum, as a careless tool might.
        int imageAt = Array.IndexOf(bytes, Image[0], LogHeader.Size + 4 + 33 + Encoding.UTF8.GetByteCount(Header(true).ImageName));
        while (!bytes.AsSpan(imageAt, 16).SequenceEqual(Image.AsSpan(0, 16))) imageAt = Array.IndexOf(bytes, Image[0], imageAt + 1);
        bytes[imageAt + 100] ^= 0xFF;
        int body = BitConverter.ToInt32(bytes, LogHeader.Size);
        uint crc = Crc32C.Compute(bytes.AsSpan(LogHeader.Size, 4 + body));
        BitConverter.GetBytes(crc).CopyTo(bytes, LogHeader.Size + 4 + body);

        var ex = Assert.Throws<LogFormatException>(() => RecordingReader.ReadAll(bytes));
        Assert.Equal(LogFormatError.Malformed, ex.Error);
        Assert.Contains("SHA-256", ex.Message);
    }

    private static readonly byte[] Initrd = Enumerable.Range(0, 3000).Select(i => (byte)(i * 17 + 1)).ToArray();

    private static RecordingHeader WithInitrd(bool embed) => Header(embed) with
    {
        InitrdName = "initrd.gz",
        InitrdSha256 = RecordingHeader.HashImage(Initrd),
        Initrd = embed ? Initrd : null,
    };

    /// <summary>Recomputes the header section's CRC after an edit, as a careless tool might.</summary>
    private static void RepairHeaderChecksum(byte[] bytes)
    {
        int body = BitConverter.ToInt32(bytes, LogHeader.Size);
        uint crc = Crc32C.Compute(bytes.AsSpan(LogHeader.Size, 4 + body));
        BitConverter.GetBytes(crc).CopyTo(bytes, LogHeader.Size + 4 + body);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_initrd_round_trips_embedded_or_by_hash(bool embed)
    {
        var header = WithInitrd(embed);
        var events = RandomEvents.List(new Random(9), 50);
        var contents = RecordingReader.ReadAll(await WriteAsync(header, events));
        AssertSameHeader(header, contents.Header);
        Assert.Equal("initrd.gz", contents.Header.InitrdName);
        Assert.Equal(header.InitrdSha256, contents.Header.InitrdSha256);
        Assert.Equal(header.Initrd, contents.Header.Initrd);
        EventAssert.Equal(events, contents.Events);
        // Without an initrd, none comes back.
        var plain = RecordingReader.ReadAll(await WriteAsync(Header(embed), events)).Header;
        Assert.Null(plain.InitrdName);
        Assert.Null(plain.InitrdSha256);
        Assert.Null(plain.Initrd);
    }

    [Fact]
    public async Task A_version_2_header_ends_after_the_command_line_and_has_no_initrd()
    {
        byte[] v3 = await WriteAsync(Header(true), [new PositionBeaconEvent(1, 5)]);
        int body = BitConverter.ToInt32(v3, LogHeader.Size);
        int flagAt = LogHeader.Size + 4 + body - 1;
        Assert.Equal(0, v3[flagAt]);   // the initrd flag: none
        // Drop the flag byte, as a version 2 writer never wrote it, and say version 2.
        byte[] v2 = [.. v3[..flagAt], .. v3[(flagAt + 1)..]];
        BitConverter.GetBytes(body - 1).CopyTo(v2, LogHeader.Size);
        BitConverter.GetBytes((ushort)2).CopyTo(v2, 8);
        RepairHeaderChecksum(v2);
        var contents = RecordingReader.ReadAll(v2);
        AssertSameHeader(Header(true), contents.Header);
        Assert.Null(contents.Header.InitrdName);
        Assert.Single(contents.Events);
    }

    [Fact]
    public async Task An_embedded_initrd_must_match_its_hash_and_flags_must_be_0_or_1()
    {
        byte[] bytes = await WriteAsync(WithInitrd(true), []);
        int at = bytes.AsSpan().IndexOf(Initrd.AsSpan(0, 32));
        bytes[at + 200] ^= 0xFF;
        RepairHeaderChecksum(bytes);
        var ex = Assert.Throws<LogFormatException>(() => RecordingReader.ReadAll(bytes));
        Assert.Equal(LogFormatError.Malformed, ex.Error);
        Assert.Contains("the embedded initrd does not match its SHA-256", ex.Message);

        byte[] flag = await WriteAsync(Header(false), []);
        // The body ends with the initrd flag, the disk flag and the network card flag (all 0 here).
        int netFlagAt = LogHeader.Size + 4 + BitConverter.ToInt32(flag, LogHeader.Size) - 1;
        int diskFlagAt = netFlagAt - 1;
        int flagAt = diskFlagAt - 1;
        byte[] diskFlag = flag.ToArray(), netFlag = flag.ToArray();
        flag[flagAt] = 2;
        RepairHeaderChecksum(flag);
        var bad = Assert.Throws<LogFormatException>(() => RecordingReader.ReadAll(flag));
        Assert.Equal(flagAt, bad.Offset);
        Assert.Contains("initrd flag is 2, not 0 or 1", bad.Message);
        diskFlag[diskFlagAt] = 2;
        RepairHeaderChecksum(diskFlag);
        bad = Assert.Throws<LogFormatException>(() => RecordingReader.ReadAll(diskFlag));
        Assert.Equal(diskFlagAt, bad.Offset);
        Assert.Contains("disk flag is 2, not 0 or 1", bad.Message);
        netFlag[netFlagAt] = 2;
        RepairHeaderChecksum(netFlag);
        bad = Assert.Throws<LogFormatException>(() => RecordingReader.ReadAll(netFlag));
        Assert.Equal(netFlagAt, bad.Offset);
        Assert.Contains("network card flag is 2, not 0 or 1", bad.Message);
    }

    [Fact]
    public void Writer_rejects_an_inconsistent_initrd()
    {
        var stream = new MemoryStream();
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, Header(false) with { InitrdSha256 = new byte[32] }));
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, WithInitrd(false) with { InitrdSha256 = new byte[31] }));
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, WithInitrd(true) with { InitrdSha256 = new byte[32] }));
        Assert.Throws<ArgumentException>(() => new RecordingWriter(stream, WithInitrd(false) with { InitrdName = new string('n', 1025) }));
        Assert.Equal(0, stream.Length);
    }
}
