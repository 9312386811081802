using System.Security.Cryptography;

namespace VmFt.ReplayLog.Recording;

/// <summary>
/// What a replayer needs besides the events to rebuild the recorded machine: its configuration,
/// the clock mode, and which image it booted (optionally the image itself). Plain numbers and
/// strings so that the format does not depend on the machine's types.
/// </summary>
public sealed record RecordingHeader
{
    public const int Sha256Length = 32;

    public required ulong RamSize { get; init; }

    public required ulong NanosecondsPerInstruction { get; init; }

    /// <summary>The RTC's time at power-on, in nanoseconds since the Unix epoch.</summary>
    public required long BootTimeUnixNanoseconds { get; init; }

    public required ulong TscHz { get; init; }

    public required ClockMode ClockMode { get; init; }

    /// <summary>How the image was named when recorded (a bundled name or a file name).</summary>
    public required string ImageName { get; init; }

    /// <summary>SHA-256 of the image's bytes: a replay must boot exactly this image.</summary>
    public required byte[] ImageSha256 { get; init; }

    /// <summary>The image's bytes when the recording is self-contained, otherwise null.</summary>
    public byte[]? Image { get; init; }

    public string KernelCommandLine { get; init; } = "";

    /// <summary>How the initrd was named when recorded (Linux kernels), or null when the run had none.</summary>
    public string? InitrdName { get; init; }

    /// <summary>SHA-256 of the initrd's bytes when there was one: a replay must boot exactly this initrd.</summary>
    public byte[]? InitrdSha256 { get; init; }

    /// <summary>The initrd's bytes when the recording is self-contained, otherwise null.</summary>
    public byte[]? Initrd { get; init; }

    /// <summary>
    /// The virtio-blk disk's size in 512-byte sectors, or null when the machine had none. Its
    /// contents are not needed: the log holds every read's data.
    /// </summary>
    public ulong? DiskSectors { get; init; }

    public bool DiskReadOnly { get; init; }

    /// <summary>The disk file's name when recorded (for people; a replay does not open it).</summary>
    public string? DiskName { get; init; }

    /// <summary>
    /// The virtio-net card's MAC address (6 bytes), or null when the machine had none. The frames it
    /// received are in the log, so a replay needs no network.
    /// </summary>
    public byte[]? NetworkMac { get; init; }

    public const int MacLength = 6;

    public static byte[] HashImage(ReadOnlySpan<byte> image) => SHA256.HashData(image);
}
