namespace VmFt.ReplayLog.Format;

/// <summary>
/// The input ended before the end marker. Everything before <see cref="LogFormatException.Offset"/>
/// was complete and has been delivered; a crashed writer leaves exactly this.
/// </summary>
public sealed class LogTruncatedException(long offset, string reason)
    : LogFormatException(LogFormatError.Truncated, offset, reason);
