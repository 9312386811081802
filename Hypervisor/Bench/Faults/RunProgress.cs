using Spectre.Console;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// The progress of a fault-bench session: on a terminal, Spectre.Console's progress display (a
/// failed run's first violation printed above it as it happens); otherwise one plain line per
/// finished run, so that logs stay readable.
/// </summary>
public abstract class RunProgress
{
    public abstract void Starting(int index, string name);

    public abstract void Finished(int done, FaultRunResult result);

    /// <summary>Runs <paramref name="body"/> with the progress display that suits <paramref name="output"/>.</summary>
    public static void Show(TextWriter output, bool interactive, int total, Action<RunProgress> body)
    {
        if (!interactive)
        {
            body(new Plain(output, total));
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.Detect,
            Interactive = InteractionSupport.Yes,
        });
        console.Progress()
            .AutoClear(false)
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(context => body(new Live(console, context.AddTask("fault runs", maxValue: total), total)));
    }

    private sealed class Plain(TextWriter output, int total) : RunProgress
    {
        public override void Starting(int index, string name)
        {
        }

        public override void Finished(int done, FaultRunResult r)
        {
            output.WriteLine($"[{done}/{total}] {r.Name} seed {r.Seed}: {(r.Passed ? "PASS" : "FAIL: " + string.Join("; ", r.Violations))} ({r.WallSeconds:F1} s)");
            output.Flush();
        }
    }

    private sealed class Live(IAnsiConsole console, ProgressTask task, int total) : RunProgress
    {
        private int _failed;

        private string Tally(int done) => $"{done}/{total}{(_failed > 0 ? $", {_failed} failed" : "")}";

        public override void Starting(int index, string name) => task.Description = Markup.Escape($"{Tally(index)}: running {name}");

        public override void Finished(int done, FaultRunResult r)
        {
            if (!r.Passed)
            {
                _failed++;
                console.MarkupLineInterpolated($"[red]FAIL[/] {r.Name} (seed {r.Seed}): {r.Violations[0]}");
            }
            task.Increment(1);
            task.Description = Markup.Escape($"{Tally(done)}: {r.Name} {(r.Passed ? "PASS" : "FAIL")}");
        }
    }
}
