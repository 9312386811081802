using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;

namespace VmFt.Channel.Transport;

/// <summary>
/// One direction of a <see cref="FaultInjectingPipe"/>. Intake copies bytes off the source with a
/// timestamp (or discards them while partitioned); delivery waits out the latency, the pause and the
/// throttle, then writes them on. The bounded queue between them keeps back-pressure on the source.
/// </summary>
internal sealed class FaultPump
{
    private const int QueueChunks = 256;

    private readonly FaultInjectingPipe _owner;
    private readonly PipeReader _source;
    private readonly PipeWriter _destination;
    private readonly CancellationTokenSource _stop;
    private readonly Channel<(byte[] Data, long Enqueued, TimeSpan Latency)> _queue =
        System.Threading.Channels.Channel.CreateBounded<(byte[], long, TimeSpan)>(new BoundedChannelOptions(QueueChunks)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    private long _paceUntil;

    public FaultPump(FaultInjectingPipe owner, PipeReader source, PipeWriter destination)
    {
        _owner = owner;
        _source = source;
        _destination = destination;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(owner.DropToken);
    }

    public async Task RunAsync()
    {
        await Task.WhenAll(IntakeAsync(), DeliverAsync()).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task IntakeAsync()
    {
        Exception? error = null;
        var ct = _stop.Token;
        try
        {
            while (true)
            {
                // While paused nothing is taken in, so the source pipe fills and its writer feels the pressure.
                await _owner.WaitWhilePausedAsync(ct).ConfigureAwait(false);
                var result = await _source.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    if (!buffer.IsEmpty)
                    {
                        if (_owner.IsPartitioned)
                            _owner.CountDiscarded(buffer.Length);
                        else
                            await _queue.Writer.WriteAsync((buffer.ToArray(), _owner.Time.GetTimestamp(), _owner.Latency), ct).ConfigureAwait(false);
                    }
                    if (result.IsCompleted)
                        break;
                }
                finally
                {
                    _source.AdvanceTo(buffer.End);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            _queue.Writer.TryComplete(error);
            await _source.CompleteAsync(_owner.DropError ?? error).ConfigureAwait(false);
        }
    }

    private async Task DeliverAsync()
    {
        Exception? error = null;
        var ct = _stop.Token;
        try
        {
            await foreach (var (data, enqueued, latency) in _queue.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                var remaining = latency - _owner.Time.GetElapsedTime(enqueued);
                if (remaining > TimeSpan.Zero)
                    await Task.Delay(remaining, _owner.Time, ct).ConfigureAwait(false);
                await _owner.WaitWhilePausedAsync(ct).ConfigureAwait(false);
                if (_owner.IsPartitioned)
                {
                    _owner.CountDiscarded(data.Length);
                    continue;
                }
                if (!await WriteAsync(data, ct).ConfigureAwait(false))
                {
                    // The far side stopped reading: stop taking bytes in as well.
                    _stop.Cancel();
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            if (_owner.DropError is null)
            {
                try
                {
                    await _owner.WaitWhilePartitionedAsync(_owner.DropToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
            await _destination.CompleteAsync(_owner.DropError ?? error).ConfigureAwait(false);
        }
    }

    /// <summary>Writes and flushes, paced to the throttle; false when the destination is closed.</summary>
    private async ValueTask<bool> WriteAsync(byte[] data, CancellationToken ct)
    {
        int offset = 0;
        while (offset < data.Length)
        {
            long rate = _owner.ThrottleBytesPerSecond;
            int length = rate == 0 ? data.Length - offset : (int)Math.Clamp(rate / 100, 1, data.Length - offset);
            if (rate != 0)
            {
                // Paced against a running schedule, so timer granularity does not lower the rate.
                var time = _owner.Time;
                long now = time.GetTimestamp();
                long start = Math.Max(now, _paceUntil);
                if (start > now)
                    await Task.Delay(time.GetElapsedTime(now, start), time, ct).ConfigureAwait(false);
                _paceUntil = start + length * time.TimestampFrequency / rate;
            }
            _destination.Write(data.AsSpan(offset, length));
            offset += length;
            var result = await _destination.FlushAsync(ct).ConfigureAwait(false);
            if (result.IsCompleted)
                return false;
        }
        return true;
    }
}
