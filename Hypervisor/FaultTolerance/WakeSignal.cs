namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>Wakes a node's loop when something arrives (auto-reset: one wait consumes all earlier sets).</summary>
public sealed class WakeSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set() => Volatile.Read(ref _next).TrySetResult();

    /// <summary>Waits until <see cref="Set"/> or the timeout.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _next);
        if (!current.Task.IsCompleted)
        {
            // Timing out is the usual way out of an idle wait (a hundred times a second for a guest
            // timer): no exception for it, they cost more than the rest of the loop.
            await current.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
            if (!current.Task.IsCompleted) return;
        }
        Interlocked.CompareExchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), current);
    }
}
