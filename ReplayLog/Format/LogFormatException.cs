namespace VmFt.ReplayLog.Format;

/// <summary>A replay log or recording that this reader cannot accept. The message names the byte offset and the reason.</summary>
public class LogFormatException : Exception
{
    public LogFormatException(LogFormatError error, long offset, string reason)
        : base($"replay log rejected at byte offset {offset}: {reason}")
    {
        Error = error;
        Offset = offset;
        Reason = reason;
    }

    public LogFormatError Error { get; }

    /// <summary>Offset from the start of the stream of the header, block or field at fault.</summary>
    public long Offset { get; }

    public string Reason { get; }
}
