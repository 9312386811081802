using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Recording;

/// <summary>
/// The recording header section, right after the log header:
/// <code>
/// u32 body length, then the body:
///   u64 RAM size, u64 ns per instruction, i64 boot time (Unix ns), u64 TSC Hz, u8 clock mode,
///   varint + UTF-8 image name, 32 bytes image SHA-256,
///   u8 image embedded (0/1) [varint + image bytes],
///   varint + UTF-8 kernel command line,
///   (version 3) u8 initrd (0/1) [varint + UTF-8 initrd name, 32 bytes initrd SHA-256,
///                                u8 initrd embedded (0/1) [varint + initrd bytes]]
///   (version 4) u8 disk (0/1) [varint sectors, u8 read-only (0/1), varint + UTF-8 disk name]
///   (version 5) u8 network card (0/1) [6 bytes MAC address]
/// u32 CRC-32C over the length and the body
/// A body that ends after the command line (versions 1 and 2) has no initrd; one that ends after
/// the initrd (version 3) has no disk; one that ends after the disk (version 4) has no network card.
/// </code>
/// </summary>
internal static class RecordingHeaderCodec
{
    public const int MaxImageNameLength = 1024;
    public const int MaxCommandLineLength = 64 * 1024;
    public const int MaxImageLength = 256 * 1024 * 1024;

    private const int FixedLength = 8 + 8 + 8 + 8 + 1 + RecordingHeader.Sha256Length + 1;
    private const int InitrdFixedLength = 1 + RecordingHeader.Sha256Length + 1;
    public const int MaxBodyLength = FixedLength + 3 * VarInt.MaxLength + MaxImageNameLength + MaxImageLength + MaxCommandLineLength
        + InitrdFixedLength + 2 * VarInt.MaxLength + MaxImageNameLength + MaxImageLength
        + 2 + 2 * VarInt.MaxLength + MaxImageNameLength
        + 1 + RecordingHeader.MacLength;

    private static readonly UTF8Encoding Utf8 = new(false, true);

    /// <exception cref="ArgumentException">The header breaks a limit or its image does not match its hash.</exception>
    public static void Validate(RecordingHeader header)
    {
        if (!Enum.IsDefined(header.ClockMode)) throw new ArgumentException($"unknown clock mode {(byte)header.ClockMode}", nameof(header));
        if (header.ImageSha256 is not { Length: RecordingHeader.Sha256Length })
            throw new ArgumentException($"the image SHA-256 must be {RecordingHeader.Sha256Length} bytes", nameof(header));
        if (Utf8.GetByteCount(header.ImageName) > MaxImageNameLength)
            throw new ArgumentException($"the image name exceeds {MaxImageNameLength} bytes", nameof(header));
        if (Utf8.GetByteCount(header.KernelCommandLine) > MaxCommandLineLength)
            throw new ArgumentException($"the kernel command line exceeds {MaxCommandLineLength} bytes", nameof(header));
        if (header.Image is { } image)
        {
            if (image.Length > MaxImageLength) throw new ArgumentException($"the image exceeds {MaxImageLength} bytes", nameof(header));
            if (!SHA256.HashData(image).AsSpan().SequenceEqual(header.ImageSha256))
                throw new ArgumentException("the embedded image does not match the image SHA-256", nameof(header));
        }
        if (header.DiskSectors is null && (header.DiskName is not null || header.DiskReadOnly))
            throw new ArgumentException("disk details without a disk size", nameof(header));
        if (header.DiskName is { } diskName && Utf8.GetByteCount(diskName) > MaxImageNameLength)
            throw new ArgumentException($"the disk name exceeds {MaxImageNameLength} bytes", nameof(header));
        if (header.NetworkMac is { Length: not RecordingHeader.MacLength })
            throw new ArgumentException($"the network card's MAC address must be {RecordingHeader.MacLength} bytes", nameof(header));
        if (header.InitrdName is null)
        {
            if (header.InitrdSha256 is not null || header.Initrd is not null)
                throw new ArgumentException("an initrd hash or initrd bytes without an initrd name", nameof(header));
            return;
        }
        if (header.InitrdSha256 is not { Length: RecordingHeader.Sha256Length })
            throw new ArgumentException($"the initrd SHA-256 must be {RecordingHeader.Sha256Length} bytes", nameof(header));
        if (Utf8.GetByteCount(header.InitrdName) > MaxImageNameLength)
            throw new ArgumentException($"the initrd name exceeds {MaxImageNameLength} bytes", nameof(header));
        if (header.Initrd is { } initrd)
        {
            if (initrd.Length > MaxImageLength) throw new ArgumentException($"the initrd exceeds {MaxImageLength} bytes", nameof(header));
            if (!SHA256.HashData(initrd).AsSpan().SequenceEqual(header.InitrdSha256))
                throw new ArgumentException("the embedded initrd does not match the initrd SHA-256", nameof(header));
        }
    }

    public static void Write(RecordingHeader header, IBufferWriter<byte> output)
    {
        Validate(header);
        byte[] name = Utf8.GetBytes(header.ImageName);
        byte[] commandLine = Utf8.GetBytes(header.KernelCommandLine);
        int body = FixedLength + VarInt.SizeOf((ulong)name.Length) + name.Length + VarInt.SizeOf((ulong)commandLine.Length) + commandLine.Length;
        if (header.Image is { } image) body += VarInt.SizeOf((ulong)image.Length) + image.Length;
        byte[]? initrdName = header.InitrdName is null ? null : Utf8.GetBytes(header.InitrdName);
        body += 1;
        if (initrdName is not null) body += VarInt.SizeOf((ulong)initrdName.Length) + initrdName.Length + RecordingHeader.Sha256Length + 1;
        if (header.Initrd is { } initrdBytes) body += VarInt.SizeOf((ulong)initrdBytes.Length) + initrdBytes.Length;
        byte[] diskName = Utf8.GetBytes(header.DiskName ?? "");
        body += 1;
        if (header.DiskSectors is { } sectors) body += VarInt.SizeOf(sectors) + 1 + VarInt.SizeOf((ulong)diskName.Length) + diskName.Length;
        body += 1 + (header.NetworkMac is null ? 0 : RecordingHeader.MacLength);

        int total = 4 + body + 4;
        Span<byte> span = output.GetSpan(total)[..total];
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)body);
        int at = 4;
        BinaryPrimitives.WriteUInt64LittleEndian(span[at..], header.RamSize); at += 8;
        BinaryPrimitives.WriteUInt64LittleEndian(span[at..], header.NanosecondsPerInstruction); at += 8;
        BinaryPrimitives.WriteInt64LittleEndian(span[at..], header.BootTimeUnixNanoseconds); at += 8;
        BinaryPrimitives.WriteUInt64LittleEndian(span[at..], header.TscHz); at += 8;
        span[at++] = (byte)header.ClockMode;
        at += WriteBytes(span[at..], name);
        header.ImageSha256.CopyTo(span[at..]); at += RecordingHeader.Sha256Length;
        span[at++] = header.Image is null ? (byte)0 : (byte)1;
        if (header.Image is { } embedded) at += WriteBytes(span[at..], embedded);
        at += WriteBytes(span[at..], commandLine);
        span[at++] = initrdName is null ? (byte)0 : (byte)1;
        if (initrdName is not null)
        {
            at += WriteBytes(span[at..], initrdName);
            header.InitrdSha256!.CopyTo(span[at..]); at += RecordingHeader.Sha256Length;
            span[at++] = header.Initrd is null ? (byte)0 : (byte)1;
            if (header.Initrd is { } embeddedInitrd) at += WriteBytes(span[at..], embeddedInitrd);
        }
        span[at++] = header.DiskSectors is null ? (byte)0 : (byte)1;
        if (header.DiskSectors is { } diskSectors)
        {
            at += VarInt.Write(span[at..], diskSectors);
            span[at++] = header.DiskReadOnly ? (byte)1 : (byte)0;
            at += WriteBytes(span[at..], diskName);
        }
        span[at++] = header.NetworkMac is null ? (byte)0 : (byte)1;
        if (header.NetworkMac is { } mac)
        {
            mac.CopyTo(span[at..]);
            at += RecordingHeader.MacLength;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(span[at..], Crc32C.Compute(span[..at]));
        output.Advance(total);
    }

    /// <summary>Same contract as <see cref="LogBlockCodec.TryReadBlock"/>: false = incomplete, exception = corrupt.</summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, long offset, out RecordingHeader? header)
    {
        header = null;
        if (buffer.Length < 4) return false;
        Span<byte> lengthBytes = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(lengthBytes);
        uint body = BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (body > MaxBodyLength)
            throw new LogFormatException(LogFormatError.Oversized, offset, $"recording header length {body} exceeds the maximum of {MaxBodyLength}");
        long total = 4L + body + 4;
        if (buffer.Length < total) return false;

        // The header is read once per recording: a copy is simpler than walking segments.
        byte[] bytes = buffer.Slice(0, total).ToArray();
        header = Parse(bytes, offset);
        buffer = buffer.Slice(total);
        return true;
    }

    private static RecordingHeader Parse(ReadOnlySpan<byte> span, long offset)
    {
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(span[^4..]);
        uint computed = Crc32C.Compute(span[..^4]);
        if (stored != computed)
            throw new LogFormatException(LogFormatError.ChecksumMismatch, offset, $"recording header checksum mismatch (stored 0x{stored:X8}, computed 0x{computed:X8})");

        var r = new FieldReader(span[4..^4], offset + 4);
        ulong ram = r.ReadUInt64();
        ulong nsPerInstruction = r.ReadUInt64();
        long boot = r.ReadInt64();
        ulong tsc = r.ReadUInt64();
        long clockAt = r.Offset;
        byte clock = r.ReadByte();
        if (!Enum.IsDefined((ClockMode)clock))
            throw new LogFormatException(LogFormatError.Malformed, clockAt, $"unknown clock mode {clock}");
        string name = r.ReadString(MaxImageNameLength, "image name");
        byte[] sha = r.ReadSpan(RecordingHeader.Sha256Length).ToArray();
        long flagAt = r.Offset;
        byte embedded = r.ReadByte();
        byte[]? image = null;
        if (embedded == 1)
        {
            long imageAt = r.Offset;
            image = r.ReadSpan(r.ReadLength(MaxImageLength, "embedded image")).ToArray();
            if (!SHA256.HashData(image).AsSpan().SequenceEqual(sha))
                throw new LogFormatException(LogFormatError.Malformed, imageAt, "the embedded image does not match its SHA-256");
        }
        else if (embedded != 0)
        {
            throw new LogFormatException(LogFormatError.Malformed, flagAt, $"image flag is {embedded}, not 0 or 1");
        }
        string commandLine = r.ReadString(MaxCommandLineLength, "kernel command line");
        string? initrdName = null;
        byte[]? initrdSha = null, initrd = null;
        if (r.Remaining != 0)
        {
            long initrdFlagAt = r.Offset;
            byte hasInitrd = r.ReadByte();
            if (hasInitrd == 1)
            {
                initrdName = r.ReadString(MaxImageNameLength, "initrd name");
                initrdSha = r.ReadSpan(RecordingHeader.Sha256Length).ToArray();
                long initrdEmbeddedAt = r.Offset;
                byte initrdEmbedded = r.ReadByte();
                if (initrdEmbedded == 1)
                {
                    long initrdAt = r.Offset;
                    initrd = r.ReadSpan(r.ReadLength(MaxImageLength, "embedded initrd")).ToArray();
                    if (!SHA256.HashData(initrd).AsSpan().SequenceEqual(initrdSha))
                        throw new LogFormatException(LogFormatError.Malformed, initrdAt, "the embedded initrd does not match its SHA-256");
                }
                else if (initrdEmbedded != 0)
                {
                    throw new LogFormatException(LogFormatError.Malformed, initrdEmbeddedAt, $"initrd embedded flag is {initrdEmbedded}, not 0 or 1");
                }
            }
            else if (hasInitrd != 0)
            {
                throw new LogFormatException(LogFormatError.Malformed, initrdFlagAt, $"initrd flag is {hasInitrd}, not 0 or 1");
            }
        }
        ulong? diskSectors = null;
        bool diskReadOnly = false;
        string? diskName = null;
        if (r.Remaining != 0)
        {
            long diskFlagAt = r.Offset;
            byte hasDisk = r.ReadByte();
            if (hasDisk == 1)
            {
                diskSectors = r.ReadVarUInt64();
                long readOnlyAt = r.Offset;
                byte readOnly = r.ReadByte();
                if (readOnly > 1) throw new LogFormatException(LogFormatError.Malformed, readOnlyAt, $"disk read-only flag is {readOnly}, not 0 or 1");
                diskReadOnly = readOnly == 1;
                diskName = r.ReadString(MaxImageNameLength, "disk name");
            }
            else if (hasDisk != 0)
            {
                throw new LogFormatException(LogFormatError.Malformed, diskFlagAt, $"disk flag is {hasDisk}, not 0 or 1");
            }
        }
        byte[]? networkMac = null;
        if (r.Remaining != 0)
        {
            long netFlagAt = r.Offset;
            byte hasNet = r.ReadByte();
            if (hasNet == 1) networkMac = r.ReadSpan(RecordingHeader.MacLength).ToArray();
            else if (hasNet != 0) throw new LogFormatException(LogFormatError.Malformed, netFlagAt, $"network card flag is {hasNet}, not 0 or 1");
        }
        if (r.Remaining != 0)
            throw new LogFormatException(LogFormatError.Malformed, r.Offset, $"{r.Remaining} bytes left over at the end of the recording header");

        return new RecordingHeader
        {
            RamSize = ram,
            NanosecondsPerInstruction = nsPerInstruction,
            BootTimeUnixNanoseconds = boot,
            TscHz = tsc,
            ClockMode = (ClockMode)clock,
            ImageName = name,
            ImageSha256 = sha,
            Image = image,
            KernelCommandLine = commandLine,
            InitrdName = initrdName,
            InitrdSha256 = initrdSha,
            Initrd = initrd,
            DiskSectors = diskSectors,
            DiskReadOnly = diskReadOnly,
            DiskName = diskName,
            NetworkMac = networkMac,
        };
    }

    private static int WriteBytes(Span<byte> span, ReadOnlySpan<byte> bytes)
    {
        int at = VarInt.Write(span, (ulong)bytes.Length);
        bytes.CopyTo(span[at..]);
        return at + bytes.Length;
    }
}
