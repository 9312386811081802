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

    public static NodeTimeline Read(IReadOnlyList<NodeLine> lines, double endMs)
    {
        var t = new NodeTimeline { EndMs = endMs };
        double? primaryUp = null, backupKilled = null, partition = null, primaryHalted = null, backupHalted = null;
        foreach (var l in lines)
        {
            string s = l.Text;
            if (l.Who == Bench)
            {
                if (s == "kill primary") t.PrimaryKilledMs ??= l.Ms;
                if (s == "kill backup" || s == "kill new primary") backupKilled ??= l.Ms;
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
            }
            if (l.Who is "primary" or "backup" && WonArbiter().Match(s) is { Success: true } won) t.ArbiterWinners.Add(new ArbiterWin(l.Who, ulong.Parse(won.Groups[1].Value, CultureInfo.InvariantCulture)));
            if (l.Who == "relay" && FollowingBackup().Match(s) is { Success: true } follow)
            {
                var rest = s[follow.Length..];
                int space = rest.IndexOf(' ');
                if (space > 0 && long.TryParse(rest[..space], NumberStyles.None, CultureInfo.InvariantCulture, out long n)) t.SwitchOffset ??= n;
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
        return t;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@": won the arbiter for generation (\d+)")]
    private static partial System.Text.RegularExpressions.Regex WonArbiter();

    [System.Text.RegularExpressions.GeneratedRegex(@"^relay: following backup \(generation \d+\), client has ")]
    private static partial System.Text.RegularExpressions.Regex FollowingBackup();
}
