namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// Judges the net workload's capture of the TAP. The guest answers each frame it receives with one
/// frame carrying how many it had received before; the relay must put each answer on the TAP once
/// and in order, whichever node sent it. So on the TAP:
/// <list type="bullet">
/// <item>the requests go to the guest as sent, each once (else the network or the client lost one);</item>
/// <item>the k-th answer answers request k: none twice (a duplicate), none skipped (a lost one), none early (reordered);</item>
/// <item>the answer to request s counts exactly the frames that went to the guest before s: a frame
/// the guest received twice or never shifts every count after it;</item>
/// <item>when the service continues, every request has its answer.</item>
/// </list>
/// Returns the violations, one line each (the first few of each kind, then how many more).
/// </summary>
public static class NetVerdict
{
    private const int Shown = 3;

    public static List<string> Check(NetCapture capture, bool serviceContinues)
    {
        var violations = new List<string>();
        var counts = new Dictionary<string, int>();
        // Per kind: the first few lines, then (at the end) one saying how many more.
        void Add(string kind, string line)
        {
            int n = counts[kind] = counts.GetValueOrDefault(kind) + 1;
            if (n <= Shown) violations.Add(line);
        }
        int sent = capture.SentMs.Count;
        if (capture.CaptureDrops > 0)
            violations.Add($"the capture socket lost {capture.CaptureDrops} frames (its buffer was full): what the TAP carried is not known");

        // Where each request stands among the frames that went to the guest: the count its answer must carry.
        var position = new Dictionary<int, int>();
        var seen = new List<int>();
        for (int p = 0; p < capture.ToGuest.Count; p++)
        {
            int seq = capture.ToGuest[p];
            if (seq < 0) continue;
            if (!position.TryAdd(seq, p)) Add("request", $"request {seq} went to the guest twice on the TAP");
            seen.Add(seq);
        }
        if (seen.Count != sent || seen.Where((s, i) => s != i).Any())
            violations.Add($"the TAP carried {seen.Count} of the {sent} requests sent, or not in the order sent ({FirstOutOfPlace(seen, sent)})");

        var answered = new HashSet<int>();
        int due = 0;
        foreach (var a in capture.Answers)
        {
            if (!answered.Add(a.Seq))
            {
                Add("duplicate", $"the answer to request {a.Seq} is on the TAP twice");
                continue;
            }
            if (a.Seq >= sent) Add("unsent", $"an answer to request {a.Seq}, which was never sent");
            else if (a.Seq != due) Add("order", $"the answer to request {a.Seq} came where the answer to {due} was due: {(a.Seq > due ? "one missing" : "reordered")}");
            if (position.TryGetValue(a.Seq, out int at) && a.Count != at)
                Add("count", $"the answer to request {a.Seq} says the guest had received {a.Count} frames before it, where {at} went to it: a frame received twice or lost");
            due = Math.Max(due, a.Seq + 1);
        }
        if (capture.Foreign > 0) violations.Add($"{capture.Foreign} frames from the guest on the TAP are no answer to any request");
        int answeredSent = answered.Count(s => s < sent);
        if (serviceContinues && answeredSent < sent)
            violations.Add($"{sent - answeredSent} of {sent} requests never got an answer on the TAP (first: {Enumerable.Range(0, sent).First(s => !answered.Contains(s))})");
        foreach (var (kind, n) in counts)
            if (n > Shown) violations.Add($"... and {n - Shown} more of that kind ({kind})");
        return violations;
    }

    private static string FirstOutOfPlace(List<int> seen, int sent)
    {
        for (int i = 0; i < seen.Count; i++)
            if (seen[i] != i) return $"position {i} holds request {seen[i]}";
        return seen.Count < sent ? $"request {seen.Count} is not there" : "none out of place";
    }
}
