using System.Buffers;
using System.Buffers.Binary;

namespace VmFt.ReplayLog.Format;

/// <summary>
/// The fixed header that opens every log stream and recording:
/// <code>
/// 0  u64 magic            ReplayLogFormat.Magic ("VMFTLOG\0")
/// 8  u16 version          CurrentVersion
/// 10 u16 header length    Size for this version (lets a reader of another version skip or report it)
/// 12 u8  content kind     LogContentKind
/// 13 u8[3] reserved       zero
/// </code>
/// All integers little-endian.
/// </summary>
public readonly record struct LogHeader(ushort Version, LogContentKind Kind)
{
    /// <summary>
    /// The format version. Bump the version when the meaning or layout of any byte changes: the
    /// header, the recording header section, the block framing, an event's encoding, or a limit a
    /// reader enforces. Adding a new event kind is a change too (older readers reject it by kind).
    /// </summary>
    public const ushort CurrentVersion = 5;

    public const int Size = 16;

    public static void Write(LogContentKind kind, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(Size)[..Size];
        BinaryPrimitives.WriteUInt64LittleEndian(span, ReplayLogFormat.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(span[8..], CurrentVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(span[10..], Size);
        span[12] = (byte)kind;
        span[13..].Clear();
        output.Advance(Size);
    }

    /// <summary>
    /// Reads the header at the start of <paramref name="buffer"/> (stream offset 0). False: not enough
    /// bytes yet (the magic is checked as soon as its bytes are there). On success the buffer is
    /// sliced past the header.
    /// </summary>
    /// <exception cref="LogFormatException">The bytes are not a header this version can read.</exception>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out LogHeader header)
    {
        header = default;
        Span<byte> bytes = stackalloc byte[Size];
        int available = (int)Math.Min(buffer.Length, Size);
        buffer.Slice(0, available).CopyTo(bytes);

        // A wrong magic is reported even from a partial prefix: no point waiting for more of a file that is something else.
        Span<byte> magic = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(magic, ReplayLogFormat.Magic);
        int magicBytes = Math.Min(available, 8);
        if (!bytes[..magicBytes].SequenceEqual(magic[..magicBytes]))
            throw new LogFormatException(LogFormatError.BadMagic, 0, "not a VmFt replay log (bad magic)");
        if (available < Size) return false;

        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
        if (version > CurrentVersion)
            throw new LogFormatException(LogFormatError.UnsupportedVersion, 8, $"format version {version} is newer than this reader (version {CurrentVersion})");
        // Version 2 only added event kinds (recording snapshots), version 3 the recording header's
        // initrd, version 4 the disk events and the recording header's disk: older logs read the same.
        if (version < 1)
            throw new LogFormatException(LogFormatError.UnsupportedVersion, 8, $"format version {version} is not supported (this reader reads versions 1 to {CurrentVersion})");
        ushort length = BinaryPrimitives.ReadUInt16LittleEndian(bytes[10..]);
        if (length != Size)
            throw new LogFormatException(LogFormatError.BadHeader, 10, $"header length {length} is not {Size} as version {CurrentVersion} defines");
        byte kind = bytes[12];
        if (kind != (byte)LogContentKind.Stream && kind != (byte)LogContentKind.Recording)
            throw new LogFormatException(LogFormatError.BadHeader, 12, $"unknown content kind {kind}");
        for (int i = 13; i < Size; i++)
        {
            if (bytes[i] != 0)
                throw new LogFormatException(LogFormatError.BadHeader, i, $"reserved header byte is 0x{bytes[i]:X2}, not zero");
        }

        header = new LogHeader(version, (LogContentKind)kind);
        buffer = buffer.Slice(Size);
        return true;
    }
}
