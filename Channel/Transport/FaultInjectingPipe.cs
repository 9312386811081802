using System.IO.Pipelines;

namespace VmFt.Channel.Transport;

/// <summary>
/// Wraps one end of a connection and injects faults into both directions, under the control of a
/// test or benchmark: fixed latency, a bandwidth limit, a pause that holds every byte until resumed,
/// a partition that silently discards every byte while the connection looks up, and a drop that
/// fails the connection in both directions.
/// </summary>
public sealed class FaultInjectingPipe : IDuplexPipe, IAsyncDisposable
{
    private readonly Pipe _fromApp;
    private readonly Pipe _toApp;
    private readonly CancellationTokenSource _drop = new();
    private readonly Task _pumps;
    private TaskCompletionSource? _resume;
    private long _latencyTicks;
    private long _throttle;
    private TaskCompletionSource? _heal;
    private long _discarded;
    private IOException? _dropError;

    public FaultInjectingPipe(IDuplexPipe inner, TimeProvider? timeProvider = null, PipeOptions? options = null)
    {
        Time = timeProvider ?? TimeProvider.System;
        options ??= InMemoryDuplexPipe.DefaultOptions;
        _fromApp = new Pipe(options);
        _toApp = new Pipe(options);
        var outbound = new FaultPump(this, _fromApp.Reader, inner.Output);
        var inbound = new FaultPump(this, inner.Input, _toApp.Writer);
        _pumps = Task.WhenAll(Task.Run(outbound.RunAsync), Task.Run(inbound.RunAsync));
    }

    public PipeReader Input => _toApp.Reader;

    public PipeWriter Output => _fromApp.Writer;

    internal TimeProvider Time { get; }

    internal CancellationToken DropToken => _drop.Token;

    internal IOException? DropError => Volatile.Read(ref _dropError);

    /// <summary>Added to every byte's trip, in both directions.</summary>
    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, Math.Max(0, value.Ticks));
    }

    /// <summary>Bandwidth limit per direction in bytes per second; 0 means unlimited.</summary>
    public long ThrottleBytesPerSecond
    {
        get => Interlocked.Read(ref _throttle);
        set => Interlocked.Exchange(ref _throttle, Math.Max(0, value));
    }

    public bool IsPaused => Volatile.Read(ref _resume) is not null;

    public bool IsPartitioned => Volatile.Read(ref _heal) is not null;

    public bool IsDropped => DropError is not null;

    /// <summary>Bytes thrown away while partitioned.</summary>
    public long DiscardedBytes => Interlocked.Read(ref _discarded);

    /// <summary>Holds every byte, both directions, until <see cref="Resume"/>; nothing is lost.</summary>
    public void Pause() => Interlocked.CompareExchange(ref _resume, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);

    public void Resume() => Interlocked.Exchange(ref _resume, null)?.TrySetResult();

    /// <summary>
    /// Discards every byte, both directions, until <see cref="Heal"/>; the connection stays up, and
    /// a close by either end is held back (like a FIN lost in the network) until the partition heals.
    /// </summary>
    public void Partition() => Interlocked.CompareExchange(ref _heal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);

    public void Heal() => Interlocked.Exchange(ref _heal, null)?.TrySetResult();

    /// <summary>Fails the connection: both directions, on this end and the peer's, see an error or the end.</summary>
    public void Drop()
    {
        Interlocked.CompareExchange(ref _dropError, new IOException("connection dropped by fault injection"), null);
        Resume();
        _drop.Cancel();
    }

    /// <summary>Completes when both directions have stopped.</summary>
    public Task Completion => _pumps;

    internal void CountDiscarded(long bytes) => Interlocked.Add(ref _discarded, bytes);

    internal async ValueTask WaitWhilePausedAsync(CancellationToken cancellationToken)
    {
        while (Volatile.Read(ref _resume) is { } pause)
            await pause.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    internal async ValueTask WaitWhilePartitionedAsync(CancellationToken cancellationToken)
    {
        while (Volatile.Read(ref _heal) is { } partition)
            await partition.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Drop();
        await _pumps.ConfigureAwait(false);
        _drop.Dispose();
    }
}
