using VmFt.ReplayLog.Format;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Recording;

/// <summary>Reads a recording file for a command: any problem with it is one line naming the file (and the offset, for a bad one).</summary>
public static class RecordingFile
{
    /// <summary>
    /// The whole recording. With <paramref name="allowTruncated"/>, one cut short (its recorder died)
    /// is returned up to its last complete block, <see cref="RecordingContents.Truncation"/> saying where.
    /// </summary>
    /// <exception cref="RecordingFormatException">The file is missing, unreadable, corrupt, foreign, or (unless allowed) truncated.</exception>
    public static RecordingContents Read(string path, bool allowTruncated)
    {
        try
        {
            return RecordingReader.ReadFile(path, allowTruncated);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RecordingFormatException($"{path}: no such file", e);
        }
        catch (LogFormatException e)
        {
            throw new RecordingFormatException($"{path}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RecordingFormatException($"{path}: cannot read: {e.Message}", e);
        }
    }
}
