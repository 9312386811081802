using VmFt.Hypervisor.Cli;
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
    /// <exception cref="UsageException">The file is missing, unreadable, corrupt, foreign, or (unless allowed) truncated.</exception>
    public static RecordingContents Read(string path, bool allowTruncated)
    {
        try
        {
            return RecordingReader.ReadFile(path, allowTruncated);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UsageException($"{path}: no such file");
        }
        catch (LogFormatException e)
        {
            throw new UsageException($"{path}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{path}: cannot read: {e.Message}");
        }
    }
}
