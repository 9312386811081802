using System.Collections.Concurrent;

namespace VmFt.Hypervisor.Serial;

/// <summary>
/// A serial backend fed by a background reader: input lands in a queue that the machine's driver
/// drains between slices, so the guest never blocks on the host.
/// </summary>
public abstract class QueuedSerialBackend : ISerialBackend
{
    private readonly ConcurrentQueue<byte[]> _input = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private byte[]? _current;
    private int _currentOffset;
    private volatile bool _closed;

    protected void Enqueue(ReadOnlySpan<byte> data)
    {
        _input.Enqueue(data.ToArray());
        _arrived.Release();
    }

    protected void CloseInput()
    {
        _closed = true;
        _arrived.Release();
    }

    public bool InputReady => _current is not null || !_input.IsEmpty;

    public bool InputClosed => _closed && _current is null && _input.IsEmpty;

    public int TryRead(Span<byte> buffer)
    {
        int n = 0;
        while (n < buffer.Length)
        {
            if (_current is null)
            {
                if (!_input.TryDequeue(out _current)) break;
                _currentOffset = 0;
            }
            int take = Math.Min(buffer.Length - n, _current.Length - _currentOffset);
            _current.AsSpan(_currentOffset, take).CopyTo(buffer[n..]);
            n += take;
            _currentOffset += take;
            if (_currentOffset == _current.Length) _current = null;
        }
        return n;
    }

    public void WaitForInput(TimeSpan timeout)
    {
        if (_current is not null || !_input.IsEmpty || _closed) return;
        _arrived.Wait(timeout);
    }

    public abstract void Write(byte value);
    public abstract void Flush();
    public virtual void Dispose() => _arrived.Dispose();
}
