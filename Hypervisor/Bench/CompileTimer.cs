using System.Diagnostics;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Bench;

/// <summary>Host time spent compiling guest blocks (IL emission and delegate creation).</summary>
public sealed class CompileTimer : ITranslationProfiler
{
    private long _started;
    private long _total;

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(0, _total);

    public void CompileStarted() => _started = Stopwatch.GetTimestamp();

    public void CompileFinished(int instructions) => _total += Stopwatch.GetTimestamp() - _started;
}
