namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>Recordings of bundled guests (virtual clock), made once per test class in a temp folder.</summary>
public sealed class GdbRecordings : IDisposable
{
    private readonly Dictionary<string, string> _made = new();

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("vmft-gdb-").FullName;

    public string Get(string guest)
    {
        lock (_made)
        {
            if (!_made.TryGetValue(guest, out var path))
            {
                path = Path.Combine(Directory, guest + ".vmrec");
                GdbTestRig.RecordGuest(guest, path);
                _made[guest] = path;
            }
            return path;
        }
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
