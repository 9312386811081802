using VmFt.Fuzz.Targets;

namespace VmFt.Fuzz;

/// <summary>Every fuzz target by name.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new RecordingTarget(),
        new LogStreamTarget(),
        new FrameTarget(),
        new HandshakeTarget(),
        new RelayWireTarget(),
        new GdbTarget(),
        new MultibootTarget(),
        new LinuxTarget(),
        new ConformanceTarget(),
    ];

    public static IEnumerable<string> Names => All.Select(t => t.Name);

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
