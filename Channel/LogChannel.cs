using System.IO.Pipelines;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VmFt.Channel.Handshake;

namespace VmFt.Channel;

/// <summary>
/// One end of an authenticated logging channel. The primary sends log data and receives acks; the
/// backup receives log data (<see cref="ReceivedLog"/>) and sends acks. Both send heartbeats and
/// declare the peer dead when it stays silent past the timeout (<see cref="Completion"/>).
/// </summary>
public sealed partial class LogChannel : IAsyncDisposable
{
    private readonly IDuplexPipe _transport;
    private readonly LogChannelOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<ChannelClosure> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Channel<LogSegment> _received =
        System.Threading.Channels.Channel.CreateUnbounded<LogSegment>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly Channel<StateSegment> _receivedState =
        System.Threading.Channels.Channel.CreateUnbounded<StateSegment>(new UnboundedChannelOptions { SingleWriter = true });
    private Task _readLoop = Task.CompletedTask;
    private Task _heartbeatLoop = Task.CompletedTask;
    private Task _watchdogLoop = Task.CompletedTask;
    private int _closing;
    private readonly long _started;
    private readonly FailureDetector _detector;

    /// <summary>Time since the channel opened, in TimeSpan ticks: the failure detector's clock.</summary>
    private long Elapsed() => _time.GetElapsedTime(_started).Ticks;

    private LogChannel(IDuplexPipe transport, LogChannelOptions options, ILogger logger, ChannelRole peerRole)
    {
        _transport = transport;
        _options = options;
        _logger = logger;
        _time = options.TimeProvider;
        PeerRole = peerRole;
        _started = _time.GetTimestamp();
        // Checked several times per timeout so a dead peer is declared soon after the timeout passes.
        var period = TimeSpan.FromTicks(Math.Max(options.PeerTimeout.Ticks / 5, TimeSpan.TicksPerMillisecond * 5));
        _detector = new FailureDetector(period.Ticks, options.PeerTimeout.Ticks, 0);
    }

    /// <summary>Opens the channel as the connecting side (runs the handshake as initiator).</summary>
    public static async Task<LogChannel> ConnectAsync(IDuplexPipe transport, LogChannelOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        logger ??= NullLogger.Instance;
        var result = await ChannelHandshake.InitiateAsync(transport, options, logger, cancellationToken).ConfigureAwait(false);
        return Start(transport, options, logger, result);
    }

    /// <summary>Opens the channel as the accepting side (runs the handshake as responder).</summary>
    public static async Task<LogChannel> AcceptAsync(IDuplexPipe transport, LogChannelOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        logger ??= NullLogger.Instance;
        var result = await ChannelHandshake.RespondAsync(transport, options, logger, cancellationToken).ConfigureAwait(false);
        return Start(transport, options, logger, result);
    }

    private static LogChannel Start(IDuplexPipe transport, LogChannelOptions options, ILogger logger, HandshakeResult result)
    {
        var channel = new LogChannel(transport, options, logger, result.PeerRole);
        channel._readLoop = Task.Run(channel.ReadLoopAsync);
        channel._heartbeatLoop = Task.Run(channel.HeartbeatLoopAsync);
        channel._watchdogLoop = Task.Run(channel.WatchdogLoopAsync);
        return channel;
    }

    public ChannelRole LocalRole => _options.LocalRole;

    public ChannelRole PeerRole { get; }

    public Guid VmId => _options.VmId;

    /// <summary>Completes (never faults) when the channel ends; <see cref="ChannelClosure.PeerLost"/> starts a failover.</summary>
    public Task<ChannelClosure> Completion => _closed.Task;

    public bool IsOpen => Volatile.Read(ref _closing) == 0;

    /// <summary>
    /// Shuts the channel down: a Goodbye goes to the peer, then the transport is completed.
    /// Idempotent; the first reason recorded wins.
    /// </summary>
    public Task CloseAsync(string reason = "closing") => CloseAsync(ChannelCloseCode.Normal, reason);

    /// <summary>Shuts the channel down with <paramref name="code"/> in the Goodbye (a refusal after the handshake, say).</summary>
    public Task CloseAsync(ChannelCloseCode code, string reason) =>
        ShutdownAsync(new ChannelClosure(ChannelCloseReason.LocalClose, code, reason), sendGoodbye: true);

    public async ValueTask DisposeAsync()
    {
        await CloseAsync("disposed").ConfigureAwait(false);
        await Task.WhenAll(_readLoop, _heartbeatLoop, _watchdogLoop).ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>
    /// Ends the channel once. Completion is set first so waiters see the real reason; the Goodbye is
    /// best effort (the peer may be gone); the output pipe is completed under the write lock so it
    /// never races a frame being written.
    /// </summary>
    private async Task ShutdownAsync(ChannelClosure closure, bool sendGoodbye)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
            return;
        LogClosure(closure);
        _closed.TrySetResult(closure);
        SignalProgress();
        _received.Writer.TryComplete();
        _receivedState.Writer.TryComplete();
        NotifyArrived();

        bool saidGoodbye = false;
        if (sendGoodbye && await _writeLock.WaitAsync(TimeSpan.FromMilliseconds(250)).ConfigureAwait(false))
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await WriteFrameLockedAsync(Framing.Frame.Body(Framing.FrameType.Goodbye, CloseMessage.Encode(closure.Code, closure.Message)), cts.Token).ConfigureAwait(false);
                saidGoodbye = true;
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException or ChannelClosedException)
            {
                // The peer may be unreachable; the Goodbye is a courtesy.
            }
            finally
            {
                _writeLock.Release();
            }
        }

        _stop.Cancel();
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            _outputCompleted = true;
            // After a Goodbye the close is orderly; an exception here would make an in-process pipe drop the Goodbye.
            await _transport.Output.CompleteAsync(saidGoodbye ? null : closure.Exception).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void LogClosure(ChannelClosure closure)
    {
        switch (closure.Reason)
        {
            case ChannelCloseReason.LocalClose:
                ChannelLog.ClosedLocally(_logger, closure.Code, closure.Message);
                break;
            case ChannelCloseReason.PeerGoodbye:
                ChannelLog.PeerGoodbye(_logger, closure.Code, closure.Message);
                break;
            case ChannelCloseReason.ProtocolError:
                ChannelLog.ProtocolError(_logger, closure.Code, closure.Message);
                break;
            case ChannelCloseReason.TransportFailed:
                ChannelLog.TransportFailed(_logger, closure.Message, closure.Exception);
                break;
            case ChannelCloseReason.PeerSilent:
                break; // logged by the watchdog with the figures
        }
    }
}
