namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// A one-line progress bar on the terminal (redrawn with a carriage return); when the output is
/// not a terminal, one plain line per finished run instead, so logs stay readable.
/// </summary>
public sealed class ProgressBar(TextWriter output, int total, bool interactive)
{
    private const int Width = 30;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private int _failed;

    public void Starting(int done, string name)
    {
        if (interactive) Draw(done, $"running {name}");
    }

    public void Finished(int done, FaultRunResult r)
    {
        if (!r.Passed) _failed++;
        if (interactive)
        {
            if (!r.Passed)
            {
                output.Write("\r" + new string(' ', Width + 70) + "\r");
                output.WriteLine($"FAIL {r.Name} (seed {r.Seed}): {r.Violations[0]}");
            }
            Draw(done, $"{r.Name} {(r.Passed ? "PASS" : "FAIL")}");
            if (done == total) output.WriteLine();
        }
        else
        {
            output.WriteLine($"[{done}/{total}] {r.Name} seed {r.Seed}: {(r.Passed ? "PASS" : "FAIL: " + string.Join("; ", r.Violations))} ({r.WallSeconds:F1} s)");
        }
        output.Flush();
    }

    private void Draw(int done, string what)
    {
        int filled = total == 0 ? Width : done * Width / total;
        string line = $"[{new string('#', filled)}{new string('.', Width - filled)}] {done}/{total} {_clock.Elapsed.TotalSeconds,5:F0}s {(_failed > 0 ? $"{_failed} failed " : "")}{what}";
        output.Write("\r" + line.PadRight(Width + 70));
        output.Flush();
    }
}
