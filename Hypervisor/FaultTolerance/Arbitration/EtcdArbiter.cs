using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace VmFt.Hypervisor.FaultTolerance.Arbitration;

/// <summary>
/// The arbiter on an etcd cluster, for nodes on separate hosts. The test-and-set for a generation is
/// one transaction: if the generation's key was never created, create it with this node's id, else
/// read it (<c>create_revision == 0</c> compares true only for a key that does not exist). etcd
/// commits a transaction through its Raft log only with a quorum of members, so two nodes can never
/// both see themselves win, whichever members each one reaches; a key once created is never changed.
/// Without an answer (no member reachable, no quorum, the leader changing) this node does not go
/// live: it says so once per <see cref="ComplaintInterval"/> and asks again until it gets one —
/// safety over availability. A node that asks again after a lost answer (its own create committed,
/// the reply lost) reads its own id back and wins, as the contract wants.
/// </summary>
public sealed class EtcdArbiter : IArbiter, IDisposable
{
    /// <summary>Scheme of an <c>--arbiter</c> value that names an etcd cluster.</summary>
    public const string Scheme = "etcd://";

    private readonly EtcdClient _client;
    private readonly ILogger _log;
    private readonly CancellationToken _stop;

    /// <param name="endpoints">The members' client addresses, HOST:PORT each.</param>
    /// <param name="stop">Ends a wait for an answer (the node is shutting down).</param>
    public EtcdArbiter(IReadOnlyList<string> endpoints, ILogger logger, CancellationToken stop = default)
    {
        if (endpoints.Count == 0) throw new ArgumentException("at least one etcd member is needed", nameof(endpoints));
        Endpoints = endpoints;
        _log = logger;
        _stop = stop;
        _client = new EtcdClient(string.Join(',', endpoints.Select(e => "http://" + e)));
    }

    public IReadOnlyList<string> Endpoints { get; }

    /// <summary>How long one attempt may take before it counts as no answer.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Pause between attempts that got no answer.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often a node still waiting for an answer says so.</summary>
    public TimeSpan ComplaintInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Attempts that got no answer, since this arbiter was made.</summary>
    public int Unanswered { get; private set; }

    /// <summary>The key that names the owner of one VM's generation.</summary>
    public static string Key(string vmId, ulong generation) => $"/vmft/{vmId}/generation/{generation:D20}/owner";

    /// <summary>
    /// Reads <c>etcd://HOST:PORT[,HOST:PORT...]</c>; null when <paramref name="text"/> is not an etcd
    /// address at all (a directory for the file arbiter). Throws <see cref="FormatException"/> naming what is wrong.
    /// </summary>
    public static IReadOnlyList<string>? ParseAddress(string text)
    {
        if (!text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)) return null;
        string rest = text[Scheme.Length..];
        if (rest.Length == 0) throw new FormatException($"'{text}': no member after {Scheme} (etcd://HOST:PORT[,HOST:PORT...])");
        var members = new List<string>();
        foreach (string part in rest.Split(','))
        {
            int colon = part.LastIndexOf(':');
            if (part.Length == 0 || colon <= 0 || colon == part.Length - 1)
                throw new FormatException($"'{text}': member '{part}' is not HOST:PORT");
            if (!ushort.TryParse(part[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ushort port) || port == 0)
                throw new FormatException($"'{text}': member '{part}' has no port between 1 and 65535");
            if (part.IndexOfAny(['/', '?', '#', '@', ' ']) >= 0)
                throw new FormatException($"'{text}': member '{part}' is not HOST:PORT");
            members.Add(part);
        }
        return members;
    }

    public bool TryAcquire(string vmId, ulong generation, string nodeId)
    {
        var key = ByteString.CopyFromUtf8(Key(vmId, generation));
        var request = new TxnRequest();
        request.Compare.Add(new Compare
        {
            Key = key,
            Target = Compare.Types.CompareTarget.Create,
            Result = Compare.Types.CompareResult.Equal,
            CreateRevision = 0,
        });
        request.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(nodeId) } });
        request.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = key } });

        var waiting = Stopwatch.StartNew();
        TimeSpan lastComplaint = TimeSpan.MinValue;
        while (true)
        {
            _stop.ThrowIfCancellationRequested();
            try
            {
                var response = _client.Transaction(request, deadline: DateTime.UtcNow + AttemptTimeout, cancellationToken: _stop);
                if (response.Succeeded) return true;
                var owner = response.Responses.Count > 0 ? response.Responses[0].ResponseRange?.Kvs : null;
                // The key existed when the compare ran, so the range saw it (keys are never deleted).
                return owner is { Count: > 0 } && owner[0].Value.ToStringUtf8() == nodeId;
            }
            // No answer: an RPC error (unavailable, deadline, no leader), or the client giving up on
            // the deadline its own way (a cancelled task), or the connection failing under it.
            catch (Exception e) when (e is RpcException or OperationCanceledException or HttpRequestException or IOException)
            {
                // A node stopping while an attempt was out ends the wait as cancelled, whatever the
                // attempt ended with: its deadline can expire in the same moment as the stop.
                if (_stop.IsCancellationRequested) throw new OperationCanceledException("the node stopped while waiting for etcd's answer", e, _stop);
                Unanswered++;
                if (lastComplaint == TimeSpan.MinValue || waiting.Elapsed - lastComplaint >= ComplaintInterval)
                {
                    lastComplaint = waiting.Elapsed;
                    string why = e is RpcException rpc ? $"{rpc.StatusCode} {rpc.Status.Detail}" : $"{e.GetType().Name}: {e.Message}";
                    ArbiterLog.EtcdNoAnswer(_log, vmId, generation, string.Join(',', Endpoints), (long)waiting.Elapsed.TotalMilliseconds, why);
                }
            }
            if (_stop.WaitHandle.WaitOne(RetryDelay)) _stop.ThrowIfCancellationRequested();
        }
    }

    public void Dispose() => _client.Dispose();
}

internal static partial class ArbiterLog
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning,
        Message = "arbiter: no answer from etcd ({Members}) for {Vm} generation {Generation} after {WaitedMs} ms ({Why}); nobody goes live without one, asking again")]
    public static partial void EtcdNoAnswer(ILogger logger, string vm, ulong generation, string members, long waitedMs, string why);
}
