using System.Net;
using System.Text.RegularExpressions;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

public sealed partial class FtProcesses
{
    // Where a node sits: the relay port the relay knows it by, and where backups join it once it is live.
    private sealed record Seat(ChildProcess Child, IPEndPoint RelayPort, Task<IPEndPoint> JoinAddress);

    private readonly object _seatGate = new();
    private readonly List<ChildProcess> _replacements = [];
    private Seat? _liveSeat, _backupSeat;
    private IReadOnlyList<string> _machineArgs = [], _nodeArgs = [];

    /// <summary>
    /// After every failover, start a replacement backup that joins the node now live
    /// (<c>vmft backup --join</c>), so the next failure is survived too. It takes the relay port of
    /// the node that died, which the relay keeps reconnecting to: the relay needs no new address.
    /// </summary>
    public bool Respawn { get; init; }

    /// <summary>The backups started by <see cref="Respawn"/>, in order.</summary>
    public IReadOnlyList<ChildProcess> Replacements
    {
        get { lock (_seatGate) return [.. _replacements]; }
    }

    /// <summary>How long a replacement waits for the node it replaces to end (a loser halts by itself) before it is killed.</summary>
    private static readonly TimeSpan DeadNodeGrace = TimeSpan.FromSeconds(10);

    private void SeatPair(Seat primary, Seat backup)
    {
        lock (_seatGate) (_liveSeat, _backupSeat) = (primary, backup);
    }

    /// <summary>Watches the nodes' lines for a failover: the node that carries on alone gets a replacement backup.</summary>
    private void ObserveForRespawn(ChildLine line)
    {
        if (!Respawn || line.Error || !(WentLive().IsMatch(line.Text) || ContinuedAlone().IsMatch(line.Text))) return;
        Seat live, dead;
        lock (_seatGate)
        {
            if (_liveSeat is null || _backupSeat is null) return;
            if (_backupSeat.Child.Name == line.Child) (live, dead) = (_backupSeat, _liveSeat);
            else if (_liveSeat.Child.Name == line.Child) (live, dead) = (_liveSeat, _backupSeat);
            else return;
            _backupSeat = null; // until the replacement sits there
            _liveSeat = live;
        }
        _ = Task.Run(() => ReplaceAsync(live, dead));
    }

    private async Task ReplaceAsync(Seat live, Seat dead)
    {
        string name;
        lock (_seatGate) name = $"backup-{_replacements.Count + 2}";
        try
        {
            // Its relay port must be free first.
            if (await Task.WhenAny(dead.Child.Ended, Task.Delay(DeadNodeGrace)).ConfigureAwait(false) != dead.Child.Ended)
            {
                dead.Child.Kill();
                await dead.Child.Ended.WaitAsync(DeadNodeGrace).ConfigureAwait(false);
            }
            var joinAt = await live.JoinAddress.WaitAsync(DeadNodeGrace).ConfigureAwait(false);
            Say($"respawn: {name} joins {live.Child.Name} at {joinAt}, in the place of {dead.Child.Name} (relay port {dead.RelayPort})");
            var child = Start(name, ["backup", .. _machineArgs, "--join", joinAt.ToString(), "--listen", "127.0.0.1:0", "--relay-port", dead.RelayPort.ToString(),
                "--arbiter", Arbiter ?? ArbiterDirectory, "--node-id", name, .. _nodeArgs, .. BackupArgs]);
            lock (_seatGate) _replacements.Add(child);
            var ports = await child.WaitForLineAsync(l => BackupListening().Match(l) is { Success: true } m ? m.Groups[2].Value : null,
                TimeSpan.FromSeconds(60), "listening").ConfigureAwait(false);
            SeatPair(live, new Seat(child, dead.RelayPort, Task.FromResult(IPEndPoint.Parse(ports))));
        }
        catch (Exception e) when (e is ClusterStartException or TimeoutException)
        {
            Say($"respawn: {name} did not start: {e.Message}");
        }
    }

    private void Say(string text) => Line?.Invoke(new ChildLine(Clock?.Invoke() ?? _started.Elapsed.TotalMilliseconds, "ft", false, text));

    private static Task<IPEndPoint> JoinAddressOf(ChildProcess node) =>
        node.WaitForLineAsync(l => AcceptingJoins().Match(l) is { Success: true } m ? m.Groups[1].Value : null, TimeSpan.FromMinutes(10), "accepting joins")
            .ContinueWith(t => IPEndPoint.Parse(t.Result), TaskScheduler.Default);

    // The nodes' lines a respawn follows (see "Machine-readable lines" in docs/ARCHITECTURE.md).
    [GeneratedRegex(@"^\S+: live as generation \d+ ")]
    private static partial Regex WentLive();

    [GeneratedRegex(@"^\S+: won the arbiter for generation \d+: continuing alone$")]
    private static partial Regex ContinuedAlone();

    [GeneratedRegex(@"^\S+: accepting joining backups on (\S+)$")]
    private static partial Regex AcceptingJoins();
}
