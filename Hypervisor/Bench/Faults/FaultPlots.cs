using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// The report's plots, drawn by gnuplot when it is on the PATH: the client latency CDF, the
/// failover-time histogram and the backup lag over time, as SVG. The data files stay beside them.
/// </summary>
public static class FaultPlots
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>The full path of gnuplot, or null.</summary>
    public static string? FindGnuplot()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "gnuplot");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Writes the data files and, with gnuplot, the SVGs. Returns the SVGs made and a one-line note.</summary>
    public static (List<string> Plots, string Note) Draw(IReadOnlyList<FaultRunResult> results, string outDirectory)
    {
        var plots = new List<string>();
        var latencies = results.SelectMany(r => r.Latencies).OrderBy(x => x).ToList();
        var failovers = results.Where(r => r.FailoverMs is not null).Select(r => r.FailoverMs!.Value).ToList();
        var cdf = new StringBuilder();
        for (int i = 0; i < latencies.Count; i++) cdf.AppendLine(C, $"{latencies[i]:F3} {(i + 1) / (double)latencies.Count:F6}");
        File.WriteAllText(Path.Combine(outDirectory, "latency-cdf.dat"), cdf.ToString());
        File.WriteAllText(Path.Combine(outDirectory, "failover.dat"), string.Concat(failovers.Select(f => f.ToString("F3", C) + "\n")));
        var lag = new StringBuilder();
        foreach (var r in results)
        {
            if (r.Lag.Count == 0) continue;
            lag.AppendLine(C, $"# run {r.Index} {r.Name}");
            foreach (var (ms, l) in r.Lag) lag.AppendLine(C, $"{ms / 1000:F3} {l:F3}");
            lag.AppendLine().AppendLine();
        }
        File.WriteAllText(Path.Combine(outDirectory, "lag.dat"), lag.ToString());

        string? gnuplot = FindGnuplot();
        if (gnuplot is null) return (plots, "Plots skipped: gnuplot is not installed (the data is in latency-cdf.dat, failover.dat and lag.dat).");
        var script = new StringBuilder();
        script.AppendLine("set terminal svg size 800,500 dynamic background rgb 'white'");
        script.AppendLine("set grid");
        if (latencies.Count > 0)
        {
            script.AppendLine("set output 'latency-cdf.svg'");
            script.AppendLine("set title 'Client request latency CDF (all kvstore runs)'; set xlabel 'latency (ms, log scale)'; set ylabel 'fraction of requests'; set logscale x; set key off");
            script.AppendLine("plot 'latency-cdf.dat' using 1:2 with steps lw 2");
            script.AppendLine("unset logscale x");
            plots.Add("latency-cdf.svg");
        }
        if (failovers.Count > 0)
        {
            double width = Math.Max(1, Math.Ceiling((failovers.Max() - failovers.Min()) / 20));
            script.AppendLine("set output 'failover-histogram.svg'");
            script.AppendLine(C, $"set title 'Failover time (client gap)'; set xlabel 'ms'; set ylabel 'runs'; set key off; set style fill solid 0.6; bw = {width:F1}");
            script.AppendLine("plot 'failover.dat' using (bw*floor($1/bw)+bw/2):(1) smooth frequency with boxes");
            plots.Add("failover-histogram.svg");
        }
        if (lag.Length > 0)
        {
            script.AppendLine("set output 'lag.svg'");
            script.AppendLine("set title 'Backup lag over time (oldest unacknowledged log event)'; set xlabel 's since the load started'; set ylabel 'lag (ms)'; set key outside right");
            var blocks = results.Where(r => r.Lag.Count > 0).ToList();
            script.AppendLine("plot " + string.Join(", ", blocks.Select((r, i) => $"'lag.dat' index {i} using 1:2 with lines title '{r.Index} {r.Name}'")));
            plots.Add("lag.svg");
        }
        File.WriteAllText(Path.Combine(outDirectory, "plots.gp"), script.ToString());
        var info = new ProcessStartInfo(gnuplot) { WorkingDirectory = outDirectory, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add("plots.gp");
        using var p = Process.Start(info)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) return ([], $"Plots failed: gnuplot exited with {p.ExitCode}: {err.Split('\n')[0]}");
        return (plots.Select(f => Path.Combine(outDirectory, f)).ToList(), $"Plots drawn by gnuplot ({plots.Count}).");
    }
}
