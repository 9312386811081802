using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;

namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>
/// One node&lt;-&gt;relay connection over any duplex pipe: <see cref="Post"/> queues a message (sent in
/// order by a writer task, never blocking the caller); <see cref="ReadAsync"/> yields what arrives.
/// </summary>
public sealed class RelayConnection : IAsyncDisposable
{
    private readonly IDuplexPipe _pipe;
    private readonly Channel<byte[]> _outgoing = System.Threading.Channels.Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    public RelayConnection(IDuplexPipe pipe)
    {
        _pipe = pipe;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Queues a message; false when the connection has ended.</summary>
    public bool Post(object message) => _outgoing.Writer.TryWrite(RelayWire.Encode(message));

    /// <summary>Queues raw bytes (the client side of the relay, which carries no framing).</summary>
    public bool PostRaw(byte[] bytes) => _outgoing.Writer.TryWrite(bytes);

    private async Task WriteLoopAsync()
    {
        try
        {
            await foreach (var frame in _outgoing.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                var result = await _pipe.Output.WriteAsync(frame).ConfigureAwait(false);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
        {
            // The peer is gone: the reader sees the end too.
        }
        _outgoing.Writer.TryComplete();
    }

    /// <summary>The next message, or null when the connection ended.</summary>
    /// <exception cref="InvalidDataException">The peer sent a malformed frame.</exception>
    public async Task<object?> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _pipe.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                return null;
            }
            var buffer = result.Buffer;
            bool got = RelayWire.TryDecode(ref buffer, out var message);
            if (got)
            {
                // Examined only what was consumed: a further whole frame already buffered must not wait for more bytes.
                _pipe.Input.AdvanceTo(buffer.Start);
                return message;
            }
            _pipe.Input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled) return null;
        }
    }

    /// <summary>Raw bytes as they arrive (client side), or null at the end.</summary>
    public async Task<byte[]?> ReadRawAsync(CancellationToken cancellationToken = default)
    {
        ReadResult result;
        try
        {
            result = await _pipe.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return null;
        }
        var buffer = result.Buffer;
        byte[] bytes = buffer.ToArray();
        _pipe.Input.AdvanceTo(buffer.End);
        if (bytes.Length == 0 && (result.IsCompleted || result.IsCanceled)) return null;
        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        _outgoing.Writer.TryComplete();
        try { await _writer.ConfigureAwait(false); } catch (Exception e) when (e is IOException or InvalidOperationException) { }
        try { await _pipe.Output.CompleteAsync().ConfigureAwait(false); } catch (InvalidOperationException) { }
        try { await _pipe.Input.CompleteAsync().ConfigureAwait(false); } catch (InvalidOperationException) { }
    }
}
