using System.Diagnostics;

namespace VmFt.Hypervisor.Live;

/// <summary>
/// Guest nanoseconds that follow the host's monotonic clock from a given guest time: what a
/// realtime run samples and logs between slices.
/// </summary>
public sealed class HostClock(ulong startNanoseconds = 0)
{
    private readonly Stopwatch _wall = Stopwatch.StartNew();

    /// <summary>The guest time the host clock has reached.</summary>
    public ulong Now => startNanoseconds + (ulong)(_wall.ElapsedTicks * (1_000_000_000.0 / Stopwatch.Frequency));
}
