using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace VmFt.Channel.Transport;

/// <summary>
/// A connected TCP socket as a duplex pipe: one loop moves received bytes into the input pipe, one
/// moves the output pipe's bytes to the socket. When the input pipe is full the receive loop stops
/// reading, so TCP flow control pushes back on the peer.
/// </summary>
public sealed class SocketDuplexPipe : IDuplexPipe, IInputArrival, IAsyncDisposable
{
    private const int ReceiveBufferHint = 16 * 1024;

    private readonly Socket _socket;
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;
    private readonly Task _receiving;
    private readonly Task _sending;
    private int _disposed;
    private long _received;

    /// <summary>
    /// Both ends of both pipes continue inline: a flush by the application writes to the socket on its
    /// own thread, and bytes the socket delivers reach the channel's frame reader on the thread that
    /// received them. Scheduling each of those on the thread pool put four thread hand-overs (each a
    /// sleeping thread to wake) on every log-and-ack round trip, which is what the output rule waits for.
    /// </summary>
    public static PipeOptions DefaultOptions { get; } =
        new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false);

    public SocketDuplexPipe(Socket socket, PipeOptions? options = null)
    {
        _socket = socket;
        _socket.NoDelay = true;
        options ??= DefaultOptions;
        _inbound = new Pipe(options);
        _outbound = new Pipe(options);
        RemoteEndPoint = socket.RemoteEndPoint;
        _receiving = Task.Run(ReceiveLoopAsync);
        _sending = Task.Run(SendLoopAsync);
    }

    public PipeReader Input => _inbound.Reader;

    public PipeWriter Output => _outbound.Writer;

    public EndPoint? RemoteEndPoint { get; }

    public long BytesArrived
    {
        get
        {
            long waiting;
            try
            {
                waiting = _socket.Available;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                waiting = 0; // closed: what arrived was received, or is lost with the socket
            }
            return Interlocked.Read(ref _received) + waiting;
        }
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var writer = _inbound.Writer;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(ReceiveBufferHint);
                int received = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                    break;
                Interlocked.Add(ref _received, received);
                writer.Advance(received);
                var result = await writer.FlushAsync().ConfigureAwait(false);
                if (result.IsCompleted)
                    break;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = Volatile.Read(ref _disposed) != 0 ? null : new IOException($"receive failed: {e.Message}", e);
        }
        catch (Exception e)
        {
            // The application completed its reader with an error; nothing more to deliver.
            error = e;
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        var reader = _outbound.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    foreach (var segment in buffer)
                        await _socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                    if (result.IsCompleted)
                        break;
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = new IOException($"send failed: {e.Message}", e);
        }
        catch (Exception e)
        {
            // The application completed its writer with an error: pass nothing more to the peer.
            error = e;
        }
        finally
        {
            await reader.CompleteAsync(error).ConfigureAwait(false);
        }

        // The application is done writing: tell the peer (FIN), give it a moment to close its side,
        // then release the socket so the receive loop ends even if the peer is gone.
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        await Task.WhenAny(_receiving, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
        CloseSocket();
    }

    private void CloseSocket()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            _socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        CloseSocket();
        // A receive loop waiting for room in a full input pipe would wait for a reader that may
        // never come: release it, and it finds the socket closed.
        _inbound.Writer.CancelPendingFlush();
        await _outbound.Writer.CompleteAsync().ConfigureAwait(false);
        await Task.WhenAll(_receiving, _sending).ConfigureAwait(false);
    }
}
