using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using VmFt.ReplayLog.Events;

namespace VmFt.ReplayLog.Format;

/// <summary>
/// Writes and parses event blocks. A block is
/// <code>
/// 0        u32 payload length     at most MaxPayloadLength
/// 4        u64 first sequence     the Sequence of the block's first event (events inside are consecutive)
/// 12       u32 event count        0 only for the end marker, whose payload is empty
/// 16       payload                the events, back to back
/// 16+len   u32 CRC-32C            over everything above
/// </code>
/// An event is a kind byte (<see cref="LogEventKind"/>), the zigzag varint of its position minus the
/// previous event's position in the block (the first event's is relative to 0), then its fields:
/// TimeSet varint ns; SerialInput varint input offset, varint length, bytes; Checkpoint u64 hash;
/// OutputMarker varint end; GuestExit u8 reason, zigzag varint status; PositionBeacon nothing;
/// SnapshotState varint length + CPU bytes, varint length + device bytes, varint RAM pages;
/// SnapshotPages varint first page, varint page count, u8 encoding, varint length + data;
/// DiskRead varint request id, u8 status, varint length + data; DiskCompletion varint request id, u8 status;
/// NetReceive varint frame index, varint length + frame.
/// </summary>
public static class LogBlockCodec
{
    public const int BlockHeaderSize = 16;
    public const int TrailerSize = 4;

    /// <summary>Largest payload a reader accepts; a larger length field is an error, never an allocation.</summary>
    public const int MaxPayloadLength = 1 << 20;

    /// <summary>Largest <see cref="SerialInputEvent.Data"/>: the recorder splits longer input.</summary>
    public const int MaxSerialInputLength = 64 * 1024;

    /// <summary>Largest CPU or device state in a <see cref="SnapshotStateEvent"/>.</summary>
    public const int MaxSnapshotStateLength = 64 * 1024;

    /// <summary>Largest <see cref="SnapshotPagesEvent.Data"/>: writers split runs of pages to stay under it.</summary>
    public const int MaxSnapshotPagesLength = 512 * 1024;

    /// <summary>Most pages one <see cref="SnapshotPagesEvent"/> may claim (its pages must also fit the data limit uncompressed).</summary>
    public const int MaxSnapshotPagesPerEvent = MaxSnapshotPagesLength / 4096;

    /// <summary>Largest <see cref="DiskReadEvent.Data"/>: the biggest read the virtio-blk device accepts.</summary>
    public const int MaxDiskReadLength = 256 * 1024;

    /// <summary>Largest <see cref="NetReceiveEvent.Frame"/>: what a TAP device hands over in one read.</summary>
    public const int MaxNetFrameLength = 65535;

    // Smallest encoded event: kind byte and a one-byte position delta.
    private const int MinEventSize = 2;

    /// <summary>Bytes <paramref name="e"/> takes in a payload after an event at <paramref name="previousPosition"/>.</summary>
    public static int GetEncodedSize(LogEvent e, ulong previousPosition)
    {
        int size = 1 + VarInt.SizeOf(VarInt.ZigZag((long)(e.Position - previousPosition)));
        return size + e switch
        {
            TimeSetEvent t => VarInt.SizeOf(t.Nanoseconds),
            SerialInputEvent s => VarInt.SizeOf(s.InputOffset) + VarInt.SizeOf((ulong)CheckedSerialLength(s)) + s.Data.Length,
            CheckpointEvent => 8,
            OutputMarkerEvent o => VarInt.SizeOf(o.OutputEnd),
            GuestExitEvent g => 1 + VarInt.SizeOf(VarInt.ZigZag(g.Status)),
            PositionBeaconEvent => 0,
            SnapshotStateEvent st => LengthPrefixed(Checked(st.CpuState.Length, MaxSnapshotStateLength, "snapshot CPU state"))
                + LengthPrefixed(Checked(st.DeviceState.Length, MaxSnapshotStateLength, "snapshot device state")) + VarInt.SizeOf(st.RamPages),
            SnapshotPagesEvent sp => VarInt.SizeOf(sp.FirstPage) + VarInt.SizeOf((ulong)Checked((int)sp.PageCount, MaxSnapshotPagesPerEvent, "snapshot page count"))
                + 1 + LengthPrefixed(Checked(sp.Data.Length, MaxSnapshotPagesLength, "snapshot page data")),
            DiskReadEvent d => VarInt.SizeOf(d.RequestId) + 1 + LengthPrefixed(Checked(d.Data.Length, MaxDiskReadLength, "disk read data")),
            DiskCompletionEvent d => VarInt.SizeOf(d.RequestId) + 1,
            NetReceiveEvent n => VarInt.SizeOf(n.FrameIndex) + LengthPrefixed(Checked(n.Frame.Length, MaxNetFrameLength, "network frame")),
            _ => throw new ArgumentException($"event type {e.GetType().Name} has no encoding", nameof(e)),
        };
    }

    /// <summary>Writes one block holding <paramref name="events"/>, whose sequence numbers must be consecutive.</summary>
    public static void WriteBlock(IReadOnlyList<LogEvent> events, IBufferWriter<byte> output)
    {
        int count = events.Count;
        if (count == 0) throw new ArgumentException("a block holds at least one event; use WriteEndMarker to end a log", nameof(events));
        ulong first = events[0].Sequence;
        if (first == 0) throw new ArgumentException("sequence numbers start at 1", nameof(events));

        long payload = 0;
        ulong previous = 0;
        for (int i = 0; i < count; i++)
        {
            LogEvent e = events[i];
            if (e.Sequence != first + (ulong)i)
                throw new ArgumentException($"event {i} of the block has sequence {e.Sequence}, expected {first + (ulong)i}", nameof(events));
            payload += GetEncodedSize(e, previous);
            previous = e.Position;
        }
        if (payload > MaxPayloadLength)
            throw new ArgumentException($"the events take {payload} bytes, more than a block's maximum of {MaxPayloadLength}", nameof(events));

        int total = BlockHeaderSize + (int)payload + TrailerSize;
        Span<byte> span = output.GetSpan(total)[..total];
        WriteFraming(span, (uint)payload, first, (uint)count);
        int at = BlockHeaderSize;
        previous = 0;
        for (int i = 0; i < count; i++)
        {
            at += WriteEvent(span[at..], events[i], previous);
            previous = events[i].Position;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(span[at..], Crc32C.Compute(span[..at]));
        output.Advance(total);
    }

    /// <summary>Writes the end marker: a clean end after the event numbered <paramref name="nextSequence"/> - 1.</summary>
    public static void WriteEndMarker(ulong nextSequence, IBufferWriter<byte> output)
    {
        if (nextSequence == 0) throw new ArgumentOutOfRangeException(nameof(nextSequence), "sequence numbers start at 1");
        const int total = BlockHeaderSize + TrailerSize;
        Span<byte> span = output.GetSpan(total)[..total];
        WriteFraming(span, 0, nextSequence, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(span[BlockHeaderSize..], Crc32C.Compute(span[..BlockHeaderSize]));
        output.Advance(total);
    }

    /// <summary>
    /// Parses the block at the start of <paramref name="buffer"/>, whose first byte is at stream offset
    /// <paramref name="offset"/>. False: the block is not complete yet (wait for more bytes; nothing was
    /// consumed). True: <paramref name="buffer"/> is sliced past the block. Pure: no I/O, no state.
    /// </summary>
    /// <exception cref="LogFormatException">The bytes cannot be the start of a valid block, whatever follows.</exception>
    public static bool TryReadBlock(ref ReadOnlySequence<byte> buffer, long offset, [NotNullWhen(true)] out LogBlock? block)
    {
        block = null;
        if (buffer.Length < 4) return false;
        Span<byte> lengthBytes = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(lengthBytes);
        uint payload = BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (payload > MaxPayloadLength)
            throw new LogFormatException(LogFormatError.Oversized, offset, $"block length {payload} exceeds the maximum of {MaxPayloadLength}");
        int total = BlockHeaderSize + (int)payload + TrailerSize;
        if (buffer.Length < total) return false;

        ReadOnlySequence<byte> bytes = buffer.Slice(0, total);
        if (bytes.IsSingleSegment)
        {
            block = Parse(bytes.FirstSpan, offset);
        }
        else
        {
            byte[] rented = ArrayPool<byte>.Shared.Rent(total);
            try
            {
                bytes.CopyTo(rented);
                block = Parse(rented.AsSpan(0, total), offset);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
        buffer = buffer.Slice(total);
        return true;
    }

    private static LogBlock Parse(ReadOnlySpan<byte> span, long offset)
    {
        int payload = span.Length - BlockHeaderSize - TrailerSize;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(span[^TrailerSize..]);
        uint computed = Crc32C.Compute(span[..^TrailerSize]);
        if (stored != computed)
            throw new LogFormatException(LogFormatError.ChecksumMismatch, offset, $"block checksum mismatch (stored 0x{stored:X8}, computed 0x{computed:X8})");

        ulong first = BinaryPrimitives.ReadUInt64LittleEndian(span[4..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(span[12..]);
        if (first == 0)
            throw new LogFormatException(LogFormatError.Malformed, offset + 4, "block starts at sequence 0 (sequences start at 1)");
        if (count == 0)
        {
            if (payload != 0)
                throw new LogFormatException(LogFormatError.Malformed, offset + 12, $"block of {payload} bytes claims no events");
            return new LogBlock(offset, span.Length, first, []);
        }
        if (count > (uint)(payload / MinEventSize))
            throw new LogFormatException(LogFormatError.Malformed, offset + 12, $"{count} events cannot fit in a payload of {payload} bytes");
        if (first + count - 1 < first)
            throw new LogFormatException(LogFormatError.Malformed, offset + 4, $"sequence numbers from {first} overflow within the block");

        var events = new LogEvent[count];
        var reader = new FieldReader(span.Slice(BlockHeaderSize, payload), offset + BlockHeaderSize);
        ulong previous = 0;
        for (uint i = 0; i < count; i++)
        {
            long at = reader.Offset;
            byte kind = reader.ReadByte();
            ulong position = previous + (ulong)VarInt.UnZigZag(reader.ReadVarUInt64());
            ulong sequence = first + i;
            events[i] = (LogEventKind)kind switch
            {
                LogEventKind.TimeSet => new TimeSetEvent(sequence, position, reader.ReadVarUInt64()),
                LogEventKind.SerialInput => ReadSerialInput(ref reader, sequence, position),
                LogEventKind.Checkpoint => new CheckpointEvent(sequence, position, reader.ReadUInt64()),
                LogEventKind.OutputMarker => new OutputMarkerEvent(sequence, position, reader.ReadVarUInt64()),
                LogEventKind.GuestExit => ReadGuestExit(ref reader, sequence, position),
                LogEventKind.PositionBeacon => new PositionBeaconEvent(sequence, position),
                LogEventKind.SnapshotState => ReadSnapshotState(ref reader, sequence, position),
                LogEventKind.SnapshotPages => ReadSnapshotPages(ref reader, sequence, position),
                LogEventKind.DiskRead => new DiskReadEvent(sequence, position, reader.ReadVarUInt64(), reader.ReadByte(),
                    reader.ReadSpan(reader.ReadLength(MaxDiskReadLength, "disk read data")).ToArray()),
                LogEventKind.DiskCompletion => new DiskCompletionEvent(sequence, position, reader.ReadVarUInt64(), reader.ReadByte()),
                LogEventKind.NetReceive => new NetReceiveEvent(sequence, position, reader.ReadVarUInt64(), reader.ReadSpan(reader.ReadLength(MaxNetFrameLength, "network frame")).ToArray()),
                _ => throw new LogFormatException(LogFormatError.UnknownEventKind, at, $"unknown event kind {kind}"),
            };
            previous = position;
        }
        if (reader.Remaining != 0)
            throw new LogFormatException(LogFormatError.Malformed, reader.Offset, $"{reader.Remaining} bytes left over after the block's last event");
        return new LogBlock(offset, span.Length, first, events);
    }

    private static SerialInputEvent ReadSerialInput(ref FieldReader reader, ulong sequence, ulong position)
    {
        ulong inputOffset = reader.ReadVarUInt64();
        int length = reader.ReadLength(MaxSerialInputLength, "serial input");
        return new SerialInputEvent(sequence, position, inputOffset, reader.ReadSpan(length).ToArray());
    }

    private static GuestExitEvent ReadGuestExit(ref FieldReader reader, ulong sequence, ulong position)
    {
        byte reason = reader.ReadByte();
        long at = reader.Offset;
        long status = VarInt.UnZigZag(reader.ReadVarUInt64());
        if (status is < int.MinValue or > int.MaxValue)
            throw new LogFormatException(LogFormatError.Malformed, at, $"exit status {status} does not fit in 32 bits");
        return new GuestExitEvent(sequence, position, reason, (int)status);
    }

    private static SnapshotStateEvent ReadSnapshotState(ref FieldReader reader, ulong sequence, ulong position)
    {
        byte[] cpu = reader.ReadSpan(reader.ReadLength(MaxSnapshotStateLength, "snapshot CPU state")).ToArray();
        byte[] devices = reader.ReadSpan(reader.ReadLength(MaxSnapshotStateLength, "snapshot device state")).ToArray();
        long at = reader.Offset;
        ulong pages = reader.ReadVarUInt64();
        if (pages > uint.MaxValue)
            throw new LogFormatException(LogFormatError.Malformed, at, $"snapshot of {pages} RAM pages does not fit in 32 bits");
        return new SnapshotStateEvent(sequence, position, cpu, devices, (uint)pages);
    }

    private static SnapshotPagesEvent ReadSnapshotPages(ref FieldReader reader, ulong sequence, ulong position)
    {
        long at = reader.Offset;
        ulong first = reader.ReadVarUInt64();
        if (first > uint.MaxValue)
            throw new LogFormatException(LogFormatError.Malformed, at, $"snapshot page {first} does not fit in 32 bits");
        at = reader.Offset;
        ulong count = reader.ReadVarUInt64();
        if (count is 0 or > MaxSnapshotPagesPerEvent)
            throw new LogFormatException(LogFormatError.Malformed, at, $"snapshot pages event with {count} pages (1 to {MaxSnapshotPagesPerEvent})");
        at = reader.Offset;
        byte encoding = reader.ReadByte();
        if (encoding > (byte)SnapshotPageEncoding.Deflate)
            throw new LogFormatException(LogFormatError.Malformed, at, $"unknown snapshot page encoding {encoding}");
        byte[] data = reader.ReadSpan(reader.ReadLength(MaxSnapshotPagesLength, "snapshot page data")).ToArray();
        return new SnapshotPagesEvent(sequence, position, (uint)first, (uint)count, (SnapshotPageEncoding)encoding, data);
    }

    private static int WriteLengthPrefixed(Span<byte> span, byte[] data)
    {
        int at = VarInt.Write(span, (ulong)data.Length);
        data.CopyTo(span[at..]);
        return at + data.Length;
    }

    private static int LengthPrefixed(int length) => VarInt.SizeOf((ulong)length) + length;

    private static int Checked(int length, int maximum, string what) => length <= maximum
        ? length
        : throw new ArgumentException($"{what} of {length} exceeds the maximum of {maximum}");

    private static int WriteEvent(Span<byte> span, LogEvent e, ulong previous)
    {
        span[0] = (byte)e.Kind;
        int at = 1 + VarInt.Write(span[1..], VarInt.ZigZag((long)(e.Position - previous)));
        switch (e)
        {
            case TimeSetEvent t:
                at += VarInt.Write(span[at..], t.Nanoseconds);
                break;
            case SerialInputEvent s:
                at += VarInt.Write(span[at..], s.InputOffset);
                at += VarInt.Write(span[at..], (ulong)s.Data.Length);
                s.Data.CopyTo(span[at..]);
                at += s.Data.Length;
                break;
            case CheckpointEvent c:
                BinaryPrimitives.WriteUInt64LittleEndian(span[at..], c.StateHash);
                at += 8;
                break;
            case OutputMarkerEvent o:
                at += VarInt.Write(span[at..], o.OutputEnd);
                break;
            case GuestExitEvent g:
                span[at++] = g.Reason;
                at += VarInt.Write(span[at..], VarInt.ZigZag(g.Status));
                break;
            case PositionBeaconEvent:
                break;
            case SnapshotStateEvent st:
                at += WriteLengthPrefixed(span[at..], st.CpuState);
                at += WriteLengthPrefixed(span[at..], st.DeviceState);
                at += VarInt.Write(span[at..], st.RamPages);
                break;
            case SnapshotPagesEvent sp:
                at += VarInt.Write(span[at..], sp.FirstPage);
                at += VarInt.Write(span[at..], sp.PageCount);
                span[at++] = (byte)sp.Encoding;
                at += WriteLengthPrefixed(span[at..], sp.Data);
                break;
            case DiskReadEvent d:
                at += VarInt.Write(span[at..], d.RequestId);
                span[at++] = d.Status;
                at += WriteLengthPrefixed(span[at..], d.Data);
                break;
            case DiskCompletionEvent d:
                at += VarInt.Write(span[at..], d.RequestId);
                span[at++] = d.Status;
                break;
            case NetReceiveEvent n:
                at += VarInt.Write(span[at..], n.FrameIndex);
                at += WriteLengthPrefixed(span[at..], n.Frame);
                break;
        }
        return at;
    }

    private static void WriteFraming(Span<byte> span, uint payload, ulong firstSequence, uint count)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(span, payload);
        BinaryPrimitives.WriteUInt64LittleEndian(span[4..], firstSequence);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], count);
    }

    private static int CheckedSerialLength(SerialInputEvent s) => s.Data.Length <= MaxSerialInputLength
        ? s.Data.Length
        : throw new ArgumentException($"serial input of {s.Data.Length} bytes exceeds the maximum of {MaxSerialInputLength}; split it", nameof(s));
}
