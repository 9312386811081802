using System.Text;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// Everything a failed run (or a failed start-up) leaves behind, in a folder of the report, so that
/// a failure that does not repeat can still be read afterwards: every child's complete output
/// (both streams, time-stamped on the run's clock), the bench's own actions, the proxies' fault
/// logs, the arbiter's files, and the client's transcript beside the expected one and the input
/// it sent.
/// </summary>
public static class RunEvidence
{
    /// <summary>Writes the evidence; returns its folder relative to <paramref name="reportDirectory"/>.</summary>
    /// <param name="what">"failed" for a judged run, "start-N" for a start-up attempt that failed.</param>
    public static string Write(string reportDirectory, FaultRunResult result, string what, FtProcesses? cluster, IReadOnlyList<NodeLine> lines,
        ChannelProxy? proxy, ChannelProxy? relayProxy, IReadOnlyList<(string File, string Content)> arbiter,
        string? transcript, string? expected, IReadOnlyList<string> sent)
    {
        string relative = Path.Combine("evidence", $"run-{result.Index:D3}-{result.Scenario.Name}-{FaultWorkloads.Name(result.Workload)}-seed{result.Seed}-{what}");
        string dir = Path.Combine(reportDirectory, relative);
        Directory.CreateDirectory(dir);

        var summary = new StringBuilder();
        summary.AppendLine($"run {result.Index} {result.Name}, seed {result.Seed}: {what}");
        summary.AppendLine($"repeat: {result.Reproduce}");
        foreach (var v in result.Violations) summary.AppendLine($"violation: {v}");
        if (result.StartupFailure is { } s) summary.AppendLine($"not started: {s}");
        foreach (var n in result.Notes) summary.AppendLine($"note: {n}");
        foreach (var c in cluster?.Children ?? [])
            summary.AppendLine($"{c.Name}: pid {c.Id}, started at {c.StartedMs:F1} ms, {(c.KilledAtDispose ? "still running when the run ended" : c.ExitCode is { } code ? $"exit code {code}" : "exit code unknown")}: vmft {c.Arguments}");
        File.WriteAllText(Path.Combine(dir, "summary.txt"), summary.ToString());

        foreach (var c in cluster?.Children ?? [])
            File.WriteAllLines(Path.Combine(dir, $"{c.Name}.log"), c.Lines.Select(l => $"{l.Ms,10:F1} {(l.Error ? "err" : "out")} {l.Text}"));
        // The merged view: every child and the bench's actions in the order the bench saw them.
        File.WriteAllLines(Path.Combine(dir, "timeline.log"), lines.OrderBy(l => l.Ms).Select(l => $"{l.Ms,10:F1} [{l.Who}] {l.Text}"));
        if (proxy is not null) File.WriteAllLines(Path.Combine(dir, "channel-proxy.log"), proxy.Events);
        if (relayProxy is not null) File.WriteAllLines(Path.Combine(dir, "relay-proxy.log"), relayProxy.Events);
        File.WriteAllText(Path.Combine(dir, "arbiter.txt"), arbiter.Count == 0
            ? "(no arbiter file: nobody asked for generation 1)\n"
            : string.Concat(arbiter.Select(a => $"{a.File}: \"{a.Content}\"\n")));
        if (transcript is not null) File.WriteAllText(Path.Combine(dir, "transcript.txt"), transcript);
        if (expected is not null) File.WriteAllText(Path.Combine(dir, "expected.txt"), expected);
        if (sent.Count > 0) File.WriteAllLines(Path.Combine(dir, "sent.txt"), sent);
        return relative;
    }
}
