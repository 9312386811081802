namespace VmFt.Hypervisor.FaultTolerance.Arbitration;

/// <summary>
/// The default arbiter: a file on a path both nodes reach (shared storage). Creating a file with
/// O_CREAT|O_EXCL (<see cref="FileMode.CreateNew"/>) is atomic on a local file system and on NFSv3+,
/// so exactly one creator succeeds; the winner's id is written inside, so it can ask again.
/// </summary>
public sealed class FileArbiter(string directory) : IArbiter
{
    public bool TryAcquire(string vmId, ulong generation, string nodeId)
    {
        if (vmId.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new ArgumentException($"VM id '{vmId}' cannot name a file", nameof(vmId));
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, $"{vmId}.gen{generation}.owner");
        try
        {
            using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            using var writer = new StreamWriter(stream);
            writer.Write(nodeId);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Someone created it first. The owner may be us (asking again), or a writer that has
            // created the file but not yet written its id: until the id is there, we have lost.
            try
            {
                return File.ReadAllText(path) == nodeId;
            }
            catch (IOException)
            {
                return false;
            }
        }
    }
}
