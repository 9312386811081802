using System.Buffers.Binary;
using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Recording;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// Rewrites the CRC-32C of every complete unit (recording header section, block) of a log held in
/// memory, so that mutated inputs reach the parsing behind the checksum instead of all failing at
/// it. A mismatching checksum has unit tests of its own.
/// </summary>
internal static class LogChecksums
{
    public static byte[] Fix(ReadOnlySpan<byte> input, bool recording)
    {
        byte[] data = input.ToArray();
        int at = LogHeader.Size;
        if (data.Length < at) return data;
        if (recording)
        {
            if (data.Length < at + 4) return data;
            uint body = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at));
            long end = at + 4L + body;
            if (end + 4 > data.Length) return data;
            WriteCrc(data, at, (int)end);
            at = (int)end + 4;
        }
        while (data.Length - at >= LogBlockCodec.BlockHeaderSize + LogBlockCodec.TrailerSize)
        {
            uint payload = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at));
            if (payload > LogBlockCodec.MaxPayloadLength) break;
            long end = at + (long)LogBlockCodec.BlockHeaderSize + payload;
            if (end + LogBlockCodec.TrailerSize > data.Length) break;
            WriteCrc(data, at, (int)end);
            at = (int)end + LogBlockCodec.TrailerSize;
        }
        return data;
    }

    private static void WriteCrc(byte[] data, int start, int end) =>
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(end), Crc32C.Compute(data.AsSpan(start, end - start)));

    /// <summary>A recording header for seeds: the bundled guest <paramref name="image"/>, not embedded (so seeds stay small).</summary>
    public static RecordingHeader Header(string image, byte[] bytes, bool embed = false, string commandLine = "") => new()
    {
        RamSize = 4u << 20,
        NanosecondsPerInstruction = 10,
        BootTimeUnixNanoseconds = 1_767_225_600_000_000_000,
        TscHz = 1_000_000_000,
        ClockMode = VmFt.ReplayLog.ClockMode.Virtual,
        ImageName = image,
        ImageSha256 = RecordingHeader.HashImage(bytes),
        Image = embed ? bytes : null,
        KernelCommandLine = commandLine,
    };
}
