namespace VmFt.ReplayLog;

/// <summary>Identity of the replay log's binary format.</summary>
public static class ReplayLogFormat
{
    /// <summary>"VMFTLOG\0" little-endian; the first eight bytes of every log stream and recording.</summary>
    public const ulong Magic = 0x00474F4C54464D56;
}
