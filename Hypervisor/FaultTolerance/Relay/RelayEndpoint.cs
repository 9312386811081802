using System.Collections.Concurrent;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace VmFt.Hypervisor.FaultTolerance.Relay;

/// <summary>
/// A node's side of the relay link: the relay connects (and reconnects) to the node; the newest
/// connection is the one used. Incoming messages queue up for the node's loop, which owns the node.
/// </summary>
public sealed class RelayEndpoint(string nodeId, WakeSignal wake, ILogger? logger = null)
{
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    private readonly ConcurrentQueue<RelayToNode> _inbox = new();
    private RelayConnection? _current;
    private int _connections;
    private int _seenConnections;

    /// <summary>Serves one relay connection until it ends.</summary>
    public async Task AttachAsync(IDuplexPipe pipe, CancellationToken cancellationToken)
    {
        var connection = new RelayConnection(pipe);
        connection.Post(new NodeHello(nodeId));
        Volatile.Write(ref _current, connection);
        int number = Interlocked.Increment(ref _connections);
        RelayLog.EndpointAttached(_log, nodeId, number);
        wake.Set();
        try
        {
            while (await connection.ReadAsync(cancellationToken).ConfigureAwait(false) is { } message)
            {
                if (message is not RelayToNode m) throw new InvalidDataException($"the relay sent {message.GetType().Name}");
                _inbox.Enqueue(m);
                wake.Set();
            }
        }
        catch (InvalidDataException)
        {
            // A broken relay: drop the connection; it reconnects.
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.CompareExchange(ref _current, null, connection);
            RelayLog.EndpointDetached(_log, nodeId, number);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    public bool TryTake(out RelayToNode message) => _inbox.TryDequeue(out message!);

    /// <summary>True once after each new relay connection: a live node then announces itself again.</summary>
    public bool TakeNewConnection()
    {
        int n = Volatile.Read(ref _connections);
        if (n == _seenConnections) return false;
        _seenConnections = n;
        return true;
    }

    /// <summary>Sends to the relay if one is connected; otherwise the message is lost (the relay recovers on reconnect).</summary>
    public void Send(NodeToRelay message) => Volatile.Read(ref _current)?.Post(message);
}
