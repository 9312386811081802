using System.Runtime.InteropServices;

namespace VmFt.Hypervisor.FaultTolerance.Arbitration;

/// <summary>
/// The default arbiter: a file on a path both nodes reach (shared storage). A claim is written
/// whole to a file of its own and synced, then hard-linked to the generation's owner name: link(2)
/// creates the name atomically or fails because it exists, on a local file system and on NFS, so
/// exactly one claimant wins, and the owner file is never seen half written. A node killed before
/// the link leaves only its claim file behind, and the generation is still free for the other.
/// (Creating the owner file and then writing the id into it, the simpler way, leaves an empty owner
/// file when the creator dies in between, and then nobody can ever win that generation.)
/// </summary>
public sealed partial class FileArbiter(string directory) : IArbiter
{
    /// <summary>Test hook: runs between writing the claim and linking it (a test throws here to die there).</summary>
    internal Action? BeforeLink { get; init; }

    public bool TryAcquire(string vmId, ulong generation, string nodeId)
    {
        if (vmId.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new ArgumentException($"VM id '{vmId}' cannot name a file", nameof(vmId));
        Directory.CreateDirectory(directory);
        string owner = Path.Combine(directory, $"{vmId}.gen{generation}.owner");
        if (TryReadOwner(owner) is { } known) return known == nodeId;

        string claim = Path.Combine(directory, $"{vmId}.gen{generation}.claim-{Environment.ProcessId}-{Guid.NewGuid():N}");
        using (var stream = new FileStream(claim, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(nodeId));
            stream.Flush(flushToDisk: true);
        }
        try
        {
            BeforeLink?.Invoke();
            if (Link(claim, owner)) return true;
            // Someone linked first; its claim is whole, so its id can be read now.
            return TryReadOwner(owner) == nodeId;
        }
        finally
        {
            File.Delete(claim);
        }
    }

    private static string? TryReadOwner(string owner)
    {
        try
        {
            return File.ReadAllText(owner);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Creates <paramref name="name"/> as a second name of <paramref name="existing"/>; false when the name exists.</summary>
    private static bool Link(string existing, string name)
    {
        if (OperatingSystem.IsWindows())
        {
            // No link(2) there: a copy that does not replace (whose content a reader may catch half written).
            try
            {
                File.Copy(existing, name, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(name))
            {
                return false;
            }
        }
        if (LinkFile(existing, name) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        const int EEXIST = 17;
        if (errno == EEXIST) return false;
        throw new IOException($"arbiter: cannot link {existing} to {name}: errno {errno}");
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinkFile(string existing, string name);
}
