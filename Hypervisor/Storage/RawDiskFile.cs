using Microsoft.Win32.SafeHandles;
using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.Storage;

/// <summary>
/// A raw disk image file (as QEMU's <c>format=raw</c>): byte N of the file is byte N of the disk.
/// Opened read-write unless read-only was asked for, shared with other processes (under FT the
/// primary and the backup open the same file; only the live one writes); a flush is an fsync.
/// </summary>
public sealed class RawDiskFile : IDiskBackend
{
    private readonly SafeFileHandle _handle;

    private RawDiskFile(SafeFileHandle handle, string name, long length, bool readOnly)
    {
        _handle = handle;
        Name = name;
        Length = length;
        ReadOnly = readOnly;
    }

    public long Length { get; }
    public bool ReadOnly { get; }
    public string Name { get; }

    /// <summary>Opens <paramref name="path"/> as a disk; <paramref name="option"/> names the flag in messages.</summary>
    /// <exception cref="DiskImageException">Missing, a directory, unreadable, empty, not whole sectors, or read-only without being asked to be.</exception>
    public static RawDiskFile Open(string path, bool readOnly, string option = "--disk")
    {
        if (Directory.Exists(path)) throw new DiskImageException($"{option} {path}: is a directory, not a disk image");
        if (!File.Exists(path)) throw new DiskImageException($"{option} {path}: no such file");
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite);
        }
        catch (UnauthorizedAccessException) when (!readOnly && CanRead(path))
        {
            throw new DiskImageException($"{option} {path}: the file is read-only; give {option} {path},readonly to use it as a read-only disk");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiskImageException($"{option} {path}: cannot open: {e.Message}", e);
        }
        long length = RandomAccess.GetLength(handle);
        string? problem = length == 0 ? "is empty (a disk has at least one 512-byte sector)"
            : length % DiskConfiguration.SectorSize != 0 ? $"is {length} bytes, not a whole number of 512-byte sectors"
            : null;
        if (problem is not null)
        {
            handle.Dispose();
            throw new DiskImageException($"{option} {path}: {problem}");
        }
        return new RawDiskFile(handle, path, length, readOnly);
    }

    private static bool CanRead(string path)
    {
        try
        {
            File.OpenHandle(path, FileMode.Open, FileAccess.Read).Dispose();
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public void Read(long offset, Span<byte> into)
    {
        int done = 0;
        while (done < into.Length)
        {
            int n = RandomAccess.Read(_handle, into[done..], offset + done);
            if (n == 0)
            {
                // The file shrank under the run: what is missing reads as zeros.
                into[done..].Clear();
                return;
            }
            done += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (ReadOnly) throw new InvalidOperationException("a read-only disk was written");
        RandomAccess.Write(_handle, data, offset);
    }

    public void Flush()
    {
        if (!ReadOnly) RandomAccess.FlushToDisk(_handle);
    }

    public void Dispose() => _handle.Dispose();
}
