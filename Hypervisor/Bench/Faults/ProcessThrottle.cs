using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// Makes a process slow from the outside: it is stopped (SIGSTOP) and continued (SIGCONT) in
/// short cycles, so it runs only <see cref="RunFraction"/> of the time whatever the machine's
/// load. Unlike <c>nice</c>, this limits it even on an idle machine; the cycle is short against
/// the failure timeout, so the peer sees a slow node, not a dead one. Linux signal numbers.
/// </summary>
public sealed class ProcessThrottle : IDisposable
{
    private readonly int _pid;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public double RunFraction { get; }
    public TimeSpan Period { get; }

    public ProcessThrottle(int pid, double runFraction, TimeSpan period)
    {
        if (runFraction is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(runFraction));
        _pid = pid;
        RunFraction = runFraction;
        Period = period;
        _loop = Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        var run = Period * RunFraction;
        var stopped = Period - run;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                if (!UnixSignals.Stop(_pid)) return; // gone
                await Task.Delay(stopped, _stop.Token).ConfigureAwait(false);
                UnixSignals.Continue(_pid);
                await Task.Delay(run, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            UnixSignals.Continue(_pid);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }
}
