using System.Globalization;
using System.Text;
using ScottPlot;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// The report's plots, drawn in-process with ScottPlot (PNG): the client latency CDF with one line
/// per scenario, the failover-time histogram stacked by scenario, and the backup lag over time as
/// small multiples (one panel per scenario, one line per run). The data stay beside them as text.
/// </summary>
public static class FaultPlots
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Writes the data files and the PNGs. Returns the PNGs made and a one-line note.</summary>
    public static (List<string> Plots, string Note) Draw(IReadOnlyList<FaultRunResult> results, string outDirectory)
    {
        var byScenario = results.GroupBy(r => r.Name).ToList();
        var latency = byScenario
            .Select(g => (Name: g.Key, Values: g.SelectMany(r => r.Latencies).Order().ToArray()))
            .Where(s => s.Values.Length > 0).ToList();
        var failover = byScenario
            .Select(g => (Name: g.Key, Values: g.SelectMany(r => r.FailoverTimes).ToArray()))
            .Where(s => s.Values.Length > 0).ToList();
        var lag = byScenario
            .Select(g => (Name: g.Key, Runs: g.Where(r => r.Lag.Count > 0).ToList()))
            .Where(s => s.Runs.Count > 0).ToList();
        WriteData(outDirectory, latency, failover, lag);

        var plots = new List<string>();
        try
        {
            if (latency.Count > 0) plots.Add(LatencyCdf(latency, Path.Combine(outDirectory, "latency-cdf.png")));
            if (failover.Count > 0) plots.Add(FailoverHistogram(failover, Path.Combine(outDirectory, "failover-histogram.png")));
            if (lag.Count > 0) plots.Add(LagPanels(lag, Path.Combine(outDirectory, "lag.png")));
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or IOException or UnauthorizedAccessException)
        {
            return (plots, $"Plots failed: {e.GetType().Name}: {e.Message.Split('\n')[0]} (the data is in latency-cdf.dat, failover.dat and lag.dat).");
        }
        return (plots, plots.Count == 0 ? "No plots: no run had latencies, failovers or lag samples." : $"Plots drawn ({plots.Count}).");
    }

    /// <summary>One line per scenario: the fraction of its requests answered within a latency (log scale).</summary>
    private static string LatencyCdf(List<(string Name, double[] Values)> series, string path)
    {
        var plot = new Plot();
        foreach (var (name, values) in series)
        {
            // A step CDF: each latency raises the fraction by one request's share.
            var xs = new List<double>(2 * values.Length);
            var ys = new List<double>(2 * values.Length);
            for (int i = 0; i < values.Length; i++)
            {
                double x = Math.Log10(Math.Max(values[i], 0.01));
                xs.Add(x);
                ys.Add((double)i / values.Length);
                xs.Add(x);
                ys.Add((i + 1.0) / values.Length);
            }
            var line = plot.Add.ScatterLine(xs.ToArray(), ys.ToArray());
            line.LineWidth = 2;
            line.LegendText = $"{name} ({values.Length})";
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = x => Math.Pow(10, x).ToString("0.##", C),
        };
        plot.Title("Client request latency CDF, by scenario");
        plot.XLabel("latency (ms, log scale)");
        plot.YLabel("fraction of requests");
        plot.Axes.SetLimitsY(0, 1.02);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 1100, 600);
        return path;
    }

    /// <summary>The client's failover gap, stacked by scenario in bins of equal width.</summary>
    private static string FailoverHistogram(List<(string Name, double[] Values)> series, string path)
    {
        var all = series.SelectMany(s => s.Values).ToArray();
        double min = all.Min(), max = all.Max();
        double width = Math.Max(1, Math.Ceiling((max - min) / 20));
        double start = Math.Floor(min / width) * width;
        int bins = Math.Max(1, (int)Math.Ceiling((max - start) / width + 1e-9));
        var stacked = new double[bins];
        var plot = new Plot();
        for (int s = 0; s < series.Count; s++)
        {
            var counts = new double[bins];
            foreach (double v in series[s].Values) counts[Math.Min(bins - 1, (int)((v - start) / width))]++;
            var color = plot.Add.Palette.GetColor(s);
            var bars = new List<Bar>();
            for (int b = 0; b < bins; b++)
            {
                if (counts[b] == 0) continue;
                bars.Add(new Bar { Position = start + (b + 0.5) * width, ValueBase = stacked[b], Value = stacked[b] + counts[b], Size = width * 0.9, FillColor = color });
                stacked[b] += counts[b];
            }
            var plotted = plot.Add.Bars(bars);
            plotted.LegendText = $"{series[s].Name} ({series[s].Values.Length})";
            plotted.Color = color;
        }
        plot.Title("Failover time: the client's last byte from the old primary to its first from the new one");
        plot.XLabel("ms");
        plot.YLabel("runs");
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 1100, 500);
        return path;
    }

    /// <summary>One small panel per scenario, its runs' backup lag over the run (time 0: the measured load starts).</summary>
    private static string LagPanels(List<(string Name, List<FaultRunResult> Runs)> panels, string path)
    {
        int columns = Math.Min(3, panels.Count);
        int rows = (panels.Count + columns - 1) / columns;
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        for (int i = 0; i < panels.Count; i++)
        {
            var plot = multiplot.GetPlot(i);
            foreach (var run in panels[i].Runs)
            {
                var line = plot.Add.ScatterLine(run.Lag.Select(l => l.Ms / 1000).ToArray(), run.Lag.Select(l => l.LagMs).ToArray());
                line.LineWidth = 1.5f;
            }
            plot.Title($"{panels[i].Name} ({panels[i].Runs.Count} run{(panels[i].Runs.Count == 1 ? "" : "s")})", size: 13);
            plot.XLabel("s since the load started", size: 11);
            plot.YLabel("backup lag (ms)", size: 11);
            plot.Axes.Margins(bottom: 0);
        }
        multiplot.SavePng(path, 380 * columns, 260 * rows);
        return path;
    }

    private static void WriteData(string outDirectory, List<(string Name, double[] Values)> latency, List<(string Name, double[] Values)> failover,
        List<(string Name, List<FaultRunResult> Runs)> lag)
    {
        // Blocks separated by two blank lines, each headed by its scenario (gnuplot's "index" format).
        var cdf = new StringBuilder();
        foreach (var (name, values) in latency)
        {
            cdf.AppendLine(C, $"# {name}");
            for (int i = 0; i < values.Length; i++) cdf.AppendLine(C, $"{values[i]:F3} {(i + 1) / (double)values.Length:F6}");
            cdf.AppendLine().AppendLine();
        }
        File.WriteAllText(Path.Combine(outDirectory, "latency-cdf.dat"), cdf.ToString());
        var gaps = new StringBuilder();
        foreach (var (name, values) in failover)
            foreach (double v in values) gaps.AppendLine(C, $"{v:F3} {name}");
        File.WriteAllText(Path.Combine(outDirectory, "failover.dat"), gaps.ToString());
        var lags = new StringBuilder();
        foreach (var (_, runs) in lag)
        {
            foreach (var r in runs)
            {
                lags.AppendLine(C, $"# run {r.Index} {r.Name}");
                foreach (var (ms, l) in r.Lag) lags.AppendLine(C, $"{ms / 1000:F3} {l:F3}");
                lags.AppendLine().AppendLine();
            }
        }
        File.WriteAllText(Path.Combine(outDirectory, "lag.dat"), lags.ToString());
    }
}
