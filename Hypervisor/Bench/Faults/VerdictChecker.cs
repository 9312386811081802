using System.Text.RegularExpressions;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// Judges one run. Every check is made on what the client and the processes actually showed:
/// <list type="bullet">
/// <item>the transcript is the failure-free one (fed the very input the client sent, retries
/// included), byte for byte; or, when the scenario leaves no server, a prefix of it;</item>
/// <item>per request (client id + request id): no reply to a request never sent, never more replies
/// than sends (a duplicated response), first replies in request order per client, a reply to
/// every request when the service continues, and per-client INCR values 1, 2, 3... over distinct
/// requests (a request executed twice, or one lost after executing, breaks the run);</item>
/// <item>no two nodes able to release output at the same moment, and at most one arbiter winner.</item>
/// </list>
/// Returns the violations, one line each; none means PASS.
/// </summary>
public static partial class VerdictChecker
{
    [GeneratedRegex(@"tsc_cycles=\d+")]
    private static partial Regex TscCycles();

    /// <summary>
    /// Masks what legitimately differs between a realtime run and the virtual-time reference:
    /// cpubench prints the TSC cycles it took, which follow the host clock under FT.
    /// </summary>
    public static string Normalize(string transcript) => TscCycles().Replace(transcript, "tsc_cycles=*");

    public static List<string> Check(string reference, string got, bool serviceContinues, IReadOnlyList<string> sentLines,
        IReadOnlyList<LiveInterval> live, IReadOnlyList<ArbiterWin> arbiterWinners)
    {
        var violations = new List<string>();
        CheckTranscript(reference, got, serviceContinues, violations);
        CheckRequests(got, serviceContinues, sentLines, violations);
        CheckLiveness(live, arbiterWinners, violations);
        return violations;
    }

    private static void CheckTranscript(string reference, string got, bool serviceContinues, List<string> violations)
    {
        int common = Math.Min(reference.Length, got.Length);
        int diff = -1;
        for (int i = 0; i < common; i++)
        {
            if (reference[i] != got[i])
            {
                diff = i;
                break;
            }
        }
        if (diff >= 0)
            violations.Add($"transcript differs from the failure-free run at byte {diff}: got {Excerpt(got, diff)}, expected {Excerpt(reference, diff)}");
        else if (got.Length > reference.Length)
            violations.Add($"transcript has {got.Length - reference.Length} bytes beyond the failure-free run: {Excerpt(got, reference.Length)}");
        else if (got.Length < reference.Length && serviceContinues)
            violations.Add($"transcript ends at byte {got.Length} of {reference.Length}: missing {Excerpt(reference, got.Length)}");
    }

    private static void CheckRequests(string got, bool serviceContinues, IReadOnlyList<string> sentLines, List<string> violations)
    {
        var sends = new Dictionary<(string, long), int>();
        var isIncr = new HashSet<(string, long)>();
        foreach (var line in sentLines)
        {
            if (!TryIds(line, out var client, out long id, out string rest)) continue;
            sends[(client, id)] = sends.GetValueOrDefault((client, id)) + 1;
            if (rest.StartsWith("INCR ", StringComparison.Ordinal)) isIncr.Add((client, id));
        }
        var replies = new Dictionary<(string, long), int>();
        var lastFirstReply = new Dictionary<string, long>();
        var incrValues = new Dictionary<string, long>();
        foreach (var line in got.Split('\n'))
        {
            if (!TryIds(line, out var client, out long id, out string reply)) continue;
            var key = (client, id);
            int n = replies.GetValueOrDefault(key) + 1;
            replies[key] = n;
            if (!sends.TryGetValue(key, out int sent))
            {
                violations.Add($"reply to {client} {id}, which was never sent: \"{line}\"");
                continue;
            }
            if (n > sent)
            {
                violations.Add($"{client} {id}: {n} replies to {sent} send(s): a duplicated response");
                continue;
            }
            if (n > 1) continue; // the stored reply to a retry
            if (lastFirstReply.TryGetValue(client, out long last) && id < last)
                violations.Add($"{client}: the reply to request {id} came after the reply to {last}: reordered");
            lastFirstReply[client] = Math.Max(id, lastFirstReply.GetValueOrDefault(client));
            if (isIncr.Contains(key) && reply.StartsWith("VALUE ", StringComparison.Ordinal) && long.TryParse(reply.AsSpan(6), out long value))
            {
                long expected = incrValues.GetValueOrDefault(client) + 1;
                if (value != expected)
                    violations.Add($"{client} {id}: INCR gave {value} where {expected} was due: a request executed twice or lost");
                incrValues[client] = value;
            }
        }
        if (!serviceContinues) return;
        int missing = 0;
        string? first = null;
        foreach (var (key, _) in sends)
        {
            if (replies.ContainsKey(key)) continue;
            missing++;
            first ??= $"{key.Item1} {key.Item2}";
        }
        if (missing > 0) violations.Add($"{missing} request(s) never got a reply (first: {first})");
    }

    private static void CheckLiveness(IReadOnlyList<LiveInterval> live, IReadOnlyList<ArbiterWin> arbiterWinners, List<string> violations)
    {
        for (int i = 0; i < live.Count; i++)
        {
            for (int j = i + 1; j < live.Count; j++)
            {
                var a = live[i];
                var b = live[j];
                if (a.Node == b.Node) continue;
                double from = Math.Max(a.StartMs, b.StartMs), to = Math.Min(a.EndMs, b.EndMs);
                if (from < to)
                    violations.Add($"two live nodes: {a.Node} ({a.Why}) and {b.Node} ({b.Why}) from {from:F1} to {to:F1} ms");
            }
        }
        foreach (var generation in arbiterWinners.GroupBy(w => w.Generation))
        {
            var nodes = generation.Select(w => w.Node).Distinct().ToList();
            if (nodes.Count > 1) violations.Add($"the arbiter was won by {string.Join(" and ", nodes)} for generation {generation.Key}");
        }
    }

    private static bool TryIds(string line, out string client, out long id, out string rest)
    {
        client = "";
        id = 0;
        rest = "";
        var parts = line.Split(' ', 3);
        if (parts.Length < 3 || parts[0].Length < 2 || parts[0][0] != 'c' || !long.TryParse(parts[1], out id)) return false;
        client = parts[0];
        rest = parts[2];
        return true;
    }

    private static string Excerpt(string s, int at) =>
        at >= s.Length ? "(end)" : "\"" + s.Substring(at, Math.Min(40, s.Length - at)).Replace("\n", "\\n") + "\"";
}
