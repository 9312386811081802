namespace VmFt.ReplayLog.Format;

/// <summary>Why a reader rejected a replay log or recording.</summary>
public enum LogFormatError
{
    /// <summary>The first eight bytes are not <see cref="ReplayLogFormat.Magic"/>.</summary>
    BadMagic,
    /// <summary>The format version is newer (or older) than this reader understands.</summary>
    UnsupportedVersion,
    /// <summary>A header field (length, kind, reserved bytes) is not what this version defines.</summary>
    BadHeader,
    /// <summary>A log stream where a recording was expected, or the reverse.</summary>
    WrongContentKind,
    /// <summary>A length field exceeds the format's maximum: rejected before any allocation.</summary>
    Oversized,
    /// <summary>The CRC-32C of a block or section does not match its contents.</summary>
    ChecksumMismatch,
    /// <summary>The checksum matched but the contents contradict themselves (counts, leftover bytes, bad text).</summary>
    Malformed,
    /// <summary>An event kind byte this version does not define.</summary>
    UnknownEventKind,
    /// <summary>A block starts after the sequence number that was expected: events are missing.</summary>
    SequenceGap,
    /// <summary>A block starts before the sequence number that was expected: events are repeated.</summary>
    SequenceRepeat,
    /// <summary>The input ends before the end marker (inside a block, or between blocks).</summary>
    Truncated,
    /// <summary>Bytes follow the end marker of a recording.</summary>
    TrailingData,
}
