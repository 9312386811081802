using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using System.Net;
using VmFt.Channel.Transport;

namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>
/// The relay process around <see cref="RelayCore"/>: node connections (each starts with a
/// <see cref="NodeHello"/>) and one client stream whose bytes are the input stream and which gets
/// the output. Output that arrives while no client is attached is kept for the next one.
/// With a network backend (<c>--net tap,...</c>: the relay owns the TAP) it also carries frames:
/// what arrives on the network goes to the live node, numbered; what the nodes send goes on the
/// network once each, in the guest's order.
/// </summary>
public sealed class RelayServer
{
    private readonly RelayCore _core;
    private readonly Network.INetworkBackend? _network;
    private readonly object _gate = new();
    private readonly Dictionary<string, RelayConnection> _nodes = [];
    private readonly List<byte> _pendingOutput = [];
    private RelayConnection? _client;
    private string? _announcedLive;
    private ulong _announcedGeneration;

    private readonly ILogger _log;

    /// <param name="logging">Status lines (a node connected, the relay follows a new live node): <see cref="RelayLog"/>.</param>
    /// <param name="network">The network the guest's card is on (the relay owns it; null: no network).</param>
    public RelayServer(ILoggerFactory? logging = null, Network.INetworkBackend? network = null)
    {
        _log = logging?.CreateLogger(RelayLog.Category) ?? NullLogger.Instance;
        _network = network;
        _core = new RelayCore { HasNetwork = network is not null };
        _core.ClientOutput += OnClientOutput;
        // Under _gate, in the order the relay accepts them: the network sees the guest's order.
        if (network is not null) _core.NetworkOutput += frame => network.Send(frame);
    }

    /// <summary>Output frames put on the network (each once), and the repeats dropped by number.</summary>
    public (ulong Delivered, ulong DuplicatesDropped, ulong InputNumbered, ulong InputDropped) FrameCounts
    {
        get { lock (_gate) return (_core.FramesDelivered, _core.DuplicateFramesDropped, _core.FrameInputEnd, _core.InputFramesDropped); }
    }

    /// <summary>Takes frames off the network and forwards them, numbered, until cancelled (on a thread of its own: the backend's wait blocks).</summary>
    public Task RunNetworkAsync(CancellationToken cancellationToken)
    {
        if (_network is not { } network) return Task.CompletedTask;
        return Task.Factory.StartNew(() =>
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (!network.WaitForFrame(TimeSpan.FromMilliseconds(100))) continue;
                lock (_gate)
                {
                    for (int n = 0; n < 256 && network.TryReceive(out var frame); n++) _core.OnNetworkFrame(frame);
                    Route();
                }
            }
        }, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public string? LiveNode { get { lock (_gate) return _core.LiveNode; } }

    private void OnClientOutput(ReadOnlyMemory<byte> data)
    {
        // Under _gate (RelayCore is only called with it held).
        if (_client is null || !_client.PostRaw(data.ToArray())) _pendingOutput.AddRange(data.ToArray());
    }

    /// <summary>Serves one node connection until it ends.</summary>
    public async Task AttachNodeAsync(IDuplexPipe pipe, CancellationToken cancellationToken)
    {
        var connection = new RelayConnection(pipe);
        string? name = null;
        try
        {
            if (await connection.ReadAsync(cancellationToken).ConfigureAwait(false) is not NodeHello hello) return;
            name = hello.NodeId;
            lock (_gate) _nodes[name] = connection;
            RelayLog.NodeConnected(_log, name);
            while (await connection.ReadAsync(cancellationToken).ConfigureAwait(false) is { } message)
            {
                if (message is not NodeToRelay m) throw new InvalidDataException($"node {name} sent {message.GetType().Name}");
                lock (_gate)
                {
                    _core.OnNode(m);
                    Route();
                }
            }
        }
        catch (InvalidDataException e)
        {
            RelayLog.DroppingNode(_log, name ?? "(unnamed)", e.Message);
        }
        finally
        {
            if (name is not null)
            {
                RelayLog.NodeDisconnected(_log, name);
                lock (_gate)
                {
                    if (_nodes.TryGetValue(name, out var current) && current == connection) _nodes.Remove(name);
                }
            }
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Serves the client stream until it ends (a new client replaces the old one).</summary>
    public async Task AttachClientAsync(IDuplexPipe pipe, CancellationToken cancellationToken)
    {
        var connection = new RelayConnection(pipe);
        RelayLog.ClientConnected(_log);
        lock (_gate)
        {
            _client = connection;
            if (_pendingOutput.Count > 0)
            {
                connection.PostRaw([.. _pendingOutput]);
                _pendingOutput.Clear();
            }
        }
        try
        {
            while (await connection.ReadRawAsync(cancellationToken).ConfigureAwait(false) is { } bytes)
            {
                if (bytes.Length == 0) continue;
                lock (_gate)
                {
                    _core.OnClientInput(bytes);
                    Route();
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                if (_client == connection) _client = null;
            }
            RelayLog.ClientDisconnected(_log);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Route()
    {
        foreach (var (node, message) in _core.TakeNodeMessages())
        {
            if (node == RelayCore.Broadcast)
            {
                foreach (var c in _nodes.Values) c.Post(message);
            }
            else if (_nodes.TryGetValue(node, out var c))
            {
                c.Post(message);
            }
            // A node that is not connected gets everything it needs when it announces itself again.
        }
        if (_core.LiveNode is { } live && (live != _announcedLive || _core.Generation != _announcedGeneration))
        {
            _announcedLive = live;
            _announcedGeneration = _core.Generation;
            RelayLog.Following(_log, live, _core.Generation, _core.OutputDelivered);
        }
    }

    /// <summary>
    /// The TCP relay: accepts clients on <paramref name="listener"/>; connects to every node's relay
    /// port and reconnects whenever a connection ends.
    /// </summary>
    public async Task RunTcpAsync(TcpChannelListener listener, IReadOnlyList<EndPoint> nodes, CancellationToken cancellationToken)
    {
        var tasks = new List<Task> { AcceptClientsAsync(listener, cancellationToken), RunNetworkAsync(cancellationToken) };
        foreach (var node in nodes) tasks.Add(KeepNodeAsync(node, cancellationToken));
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task AcceptClientsAsync(TcpChannelListener listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var pipe = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            _ = Task.Run(() => AttachClientAsync(pipe, cancellationToken), cancellationToken);
        }
    }

    private async Task KeepNodeAsync(EndPoint node, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var pipe = await TcpChannelConnector.ConnectAsync(node, cancellationToken: cancellationToken).ConfigureAwait(false);
                await AttachNodeAsync(pipe, cancellationToken).ConfigureAwait(false);
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Not up yet, or gone: try again shortly.
            }
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }
}
