using VmFt.Fuzz.Targets;

namespace VmFt.Fuzz;

/// <summary>
/// Every fuzz target by name. Targets are made on demand: under afl-fuzz the instrumented
/// assemblies may run only once SharpFuzz has set up the coverage map, inside its loop.
/// </summary>
public static class FuzzTargets
{
    private static readonly (string Name, Func<FuzzTarget> Make)[] Factories =
    [
        ("recording", () => new RecordingTarget()),
        ("recording-replay", () => new RecordingReplayTarget()),
        ("logstream", () => new LogStreamTarget()),
        ("frames", () => new FrameTarget()),
        ("handshake", () => new HandshakeTarget()),
        ("relay", () => new RelayWireTarget()),
        ("gdb", () => new GdbTarget()),
        ("multiboot", () => new MultibootTarget()),
        ("linux", () => new LinuxTarget()),
        ("conformance", () => new ConformanceTarget()),
        ("join-state", () => new JoinStateTarget()),
    ];

    public static IEnumerable<string> Names => Factories.Select(f => f.Name);

    /// <summary>A new instance of every target.</summary>
    public static IEnumerable<FuzzTarget> All => Factories.Select(f => f.Make());

    public static bool Exists(string name) => Factories.Any(f => f.Name == name);

    public static FuzzTarget? Find(string name) => Factories.FirstOrDefault(f => f.Name == name).Make?.Invoke();
}
