using System.Globalization;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// The run as the processes told it: their status lines and the bench's own actions, read into
/// the moments that matter (fault, detection, arbiter, go-live, the relay's switch) and the
/// intervals during which each node could release output.
/// <para>A node can release output when: the generation-0 primary, from its channel coming up
/// until it is killed or its acks stop (backup killed, channel partitioned, or it reports the
/// backup lost: the output rule releases nothing without acks); a node that won the arbiter, from
/// going live (the backup) or continuing alone (the primary) until it is killed.</para>
/// </summary>
public sealed partial class NodeTimeline
{
    public const string Bench = "bench";

    public List<LiveInterval> Live { get; } = [];
    /// <summary>Nodes that reported winning the arbiter, with the generation, in order.</summary>
    public List<ArbiterWin> ArbiterWinners { get; } = [];
    public List<StatsSample> Samples { get; } = [];
    /// <summary>The bench's fault action (kill, partition, pause...) or null.</summary>
    public double? FaultMs { get; private set; }
    public double? PrimaryKilledMs { get; private set; }
    /// <summary>The backup declared the primary dead.</summary>
    public double? PrimaryLostMs { get; private set; }
    /// <summary>The primary declared the backup dead.</summary>
    public double? BackupLostMs { get; private set; }
    public double? BackupLiveMs { get; private set; }
    public double? PrimaryAloneMs { get; private set; }
    /// <summary>Output bytes the client had when the relay switched to the new primary.</summary>
    public long? SwitchOffset { get; private set; }
    public double EndMs { get; private set; }

    // Every failover and join of a run with several (the repair scenarios), in order.
    /// <summary>The bench's kills of the node serving: "kill primary", then "kill new primary NAME".</summary>
    public List<(double Ms, string Node)> Kills { get; } = [];
    /// <summary>A node declaring its primary dead.</summary>
    public List<(double Ms, string Node)> PrimaryLosses { get; } = [];
    /// <summary>A node going live, with its generation.</summary>
    public List<(double Ms, string Node, ulong Generation)> WentLive { get; } = [];
    /// <summary>The relay following a node of a new generation, and the output bytes the client had then.</summary>
    public List<(double Ms, string Node, ulong Generation, long Offset)> Switches { get; } = [];
    /// <summary>A live node saying a backup joined it (from then on it counts for the output rule), with the join's figures.</summary>
    public List<(double Ms, string Node, ulong Generation, double JoinMs, double PauseMs)> Joins { get; } = [];

    /// <summary>A joining backup saying its copy is restored and matches (a complete replica), with the generation it joined.</summary>
    public List<(double Ms, string Node, ulong Generation)> Replicas { get; } = [];

    /// <summary>A node's name: the first pair's, or a backup started to replace a lost one (backup-2, backup-3...).</summary>
    private static bool IsNode(string who) => who == "primary" || who.StartsWith("backup", StringComparison.Ordinal);

    public static NodeTimeline Read(IReadOnlyList<NodeLine> lines, double endMs)
    {
        var t = new NodeTimeline { EndMs = endMs };
        double? primaryUp = null, backupKilled = null, partition = null, primaryHalted = null, backupHalted = null;
        // The nodes that replaced lost backups: killed and halted moments by name.
        var killed = new Dictionary<string, double>();
        var halted = new Dictionary<string, double>();
        foreach (var l in lines)
        {
            string s = l.Text;
            if (l.Who == Bench)
            {
                if (s == "kill primary") t.PrimaryKilledMs ??= l.Ms;
                if (s == "kill backup") backupKilled ??= l.Ms;
                if (s == "kill primary") t.Kills.Add((l.Ms, "primary"));
                if (s.StartsWith("kill new primary", StringComparison.Ordinal))
                {
                    // "kill new primary" kills the backup that went live; a repair run names the node.
                    string node = s.Length > "kill new primary ".Length ? s["kill new primary ".Length..] : "backup";
                    t.Kills.Add((l.Ms, node));
                    if (node == "backup") backupKilled ??= l.Ms;
                    else killed.TryAdd(node, l.Ms);
                }
                // From a partition, or either node standing still, the primary gets no new acks: it releases only output its backup already has.
                if (s is "partition" or "freeze primary" or "freeze backup") partition ??= l.Ms;
                if (s.StartsWith("kill", StringComparison.Ordinal) || s.StartsWith("freeze", StringComparison.Ordinal)
                    || s is "partition" or "pause" or "delay" or "throttle" or "slow backup" or "relay reset") t.FaultMs ??= l.Ms;
                continue;
            }
            if (StatsSample.TryParse(l.Ms, s) is { } sample && l.Who == "primary") t.Samples.Add(sample);
            if (l.Who == "primary" && s.Contains("logging channel to the backup", StringComparison.Ordinal) && s.EndsWith("is up", StringComparison.Ordinal)) primaryUp ??= l.Ms;
            if (l.Who == "primary" && s.Contains(": backup lost:", StringComparison.Ordinal)) t.BackupLostMs ??= l.Ms;
            if (l.Who == "primary" && s.Contains("continuing alone", StringComparison.Ordinal)) t.PrimaryAloneMs ??= l.Ms;
            if (l.Who == "backup" && s.Contains(": primary lost:", StringComparison.Ordinal)) t.PrimaryLostMs ??= l.Ms;
            if (l.Who == "backup" && s.Contains(": live as generation ", StringComparison.Ordinal)) t.BackupLiveMs ??= l.Ms;
            if (s.Contains("halting", StringComparison.Ordinal))
            {
                if (l.Who == "primary") primaryHalted ??= l.Ms;
                if (l.Who == "backup") backupHalted ??= l.Ms;
                if (l.Who.StartsWith("backup-", StringComparison.Ordinal)) halted.TryAdd(l.Who, l.Ms);
            }
            if (IsNode(l.Who))
            {
                if (WonArbiter().Match(s) is { Success: true } won) t.ArbiterWinners.Add(new ArbiterWin(l.Who, ulong.Parse(won.Groups[1].Value, CultureInfo.InvariantCulture)));
                if (s.Contains(": primary lost:", StringComparison.Ordinal)) t.PrimaryLosses.Add((l.Ms, l.Who));
                if (LiveAs().Match(s) is { Success: true } liveAs) t.WentLive.Add((l.Ms, l.Who, ulong.Parse(liveAs.Groups[1].Value, CultureInfo.InvariantCulture)));
                if (JoinedPrimary().Match(s) is { Success: true } replica) t.Replicas.Add((l.Ms, l.Who, ulong.Parse(replica.Groups[1].Value, CultureInfo.InvariantCulture)));
                if (BackupJoined().Match(s) is { Success: true } joined)
                    t.Joins.Add((l.Ms, l.Who, ulong.Parse(joined.Groups[1].Value, CultureInfo.InvariantCulture),
                        double.Parse(joined.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(joined.Groups[3].Value, CultureInfo.InvariantCulture)));
            }
            if (l.Who == "relay" && FollowingBackup().Match(s) is { Success: true } follow)
            {
                var rest = s[follow.Length..];
                int space = rest.IndexOf(' ');
                if (space > 0 && long.TryParse(rest[..space], NumberStyles.None, CultureInfo.InvariantCulture, out long n)) t.SwitchOffset ??= n;
            }
            if (l.Who == "relay" && Following().Match(s) is { Success: true } f)
            {
                ulong g = ulong.Parse(f.Groups[2].Value, CultureInfo.InvariantCulture);
                if (g > 0 && (t.Switches.Count == 0 || t.Switches[^1].Generation != g))
                    t.Switches.Add((l.Ms, f.Groups[1].Value, g, long.Parse(f.Groups[3].Value, CultureInfo.InvariantCulture)));
            }
        }
        static double Min(double a, params double?[] b)
        {
            foreach (var x in b) if (x is { } v && v < a) a = v;
            return a;
        }
        if (primaryUp is { } up)
        {
            double end = Min(endMs, t.PrimaryKilledMs, backupKilled, partition, t.BackupLostMs, primaryHalted);
            t.Live.Add(new LiveInterval("primary", up, Math.Max(up, end), "generation 0 with an acknowledging backup"));
        }
        if (t.PrimaryAloneMs is { } alone)
        {
            double? killedAfter = t.PrimaryKilledMs > alone ? t.PrimaryKilledMs : null;
            t.Live.Add(new LiveInterval("primary", alone, Min(endMs, killedAfter), "won the arbiter: continuing alone"));
        }
        if (t.BackupLiveMs is { } live)
        {
            double? killedAfter = backupKilled > live ? backupKilled : null;
            t.Live.Add(new LiveInterval("backup", live, Min(endMs, killedAfter, backupHalted > live ? backupHalted : null), "won the arbiter: live"));
        }
        // A replacement backup that went live: from then until it was killed or halted.
        foreach (var (ms, node, generation) in t.WentLive)
        {
            if (!node.StartsWith("backup-", StringComparison.Ordinal) || t.Live.Any(x => x.Node == node)) continue;
            double? k = killed.TryGetValue(node, out double kv) && kv > ms ? kv : null;
            double? h = halted.TryGetValue(node, out double hv) && hv > ms ? hv : null;
            t.Live.Add(new LiveInterval(node, ms, Min(endMs, k, h), $"won the arbiter: live as generation {generation}"));
        }
        return t;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@": won the arbiter for generation (\d+)")]
    private static partial System.Text.RegularExpressions.Regex WonArbiter();

    [System.Text.RegularExpressions.GeneratedRegex(@"^relay: following backup \(generation \d+\), client has ")]
    private static partial System.Text.RegularExpressions.Regex FollowingBackup();

    [System.Text.RegularExpressions.GeneratedRegex(@"^relay: following (\S+) \(generation (\d+)\), client has (\d+) ")]
    private static partial System.Text.RegularExpressions.Regex Following();

    [System.Text.RegularExpressions.GeneratedRegex(@": live as generation (\d+) ")]
    private static partial System.Text.RegularExpressions.Regex LiveAs();

    [System.Text.RegularExpressions.GeneratedRegex(@": joined the primary at \S+ \(generation (\d+)\): ")]
    private static partial System.Text.RegularExpressions.Regex JoinedPrimary();

    [System.Text.RegularExpressions.GeneratedRegex(@": backup joined from \S+ \(generation (\d+)\): join_ms=(\S+) pause_ms=(\S+) ")]
    private static partial System.Text.RegularExpressions.Regex BackupJoined();
}
