using System.Diagnostics;

namespace VmFt.Fuzz;

/// <summary>What replaying one stored input through a target gave.</summary>
public sealed record ReplayOutcome(string Path, TimeSpan Elapsed, Exception? Failure, bool TimedOut)
{
    public bool Ok => Failure is null && !TimedOut;

    public override string ToString() => TimedOut
        ? $"{Path}: no answer within {Elapsed.TotalSeconds:F1} s (a hang)"
        : Failure is null ? $"{Path}: ok ({Elapsed.TotalMilliseconds:F0} ms)"
        : $"{Path}: {Failure.GetType().Name}: {Failure.Message}";
}

/// <summary>Replays folders of inputs through a target, each with a time limit: the corpus check of CI and of <c>replay</c>.</summary>
public static class InputReplay
{
    public static IEnumerable<string> FilesUnder(IEnumerable<string> paths)
    {
        foreach (string path in paths)
        {
            if (Directory.Exists(path))
            {
                foreach (string file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                    if (!Path.GetFileName(file).StartsWith('.') && Path.GetFileName(file) != "README.txt") yield return file;
            }
            else if (File.Exists(path))
            {
                yield return path;
            }
        }
    }

    public static ReplayOutcome Replay(FuzzTarget target, string path, TimeSpan limit)
    {
        byte[] input = File.ReadAllBytes(path);
        var clock = Stopwatch.StartNew();
        Exception? failure = null;
        // A thread of its own, so that a hang is reported instead of stopping the whole check.
        var thread = new Thread(() => failure = target.Check(input), 256 * 1024 * 1024) { IsBackground = true };
        thread.Start();
        bool finished = thread.Join(limit);
        return new ReplayOutcome(path, clock.Elapsed, failure, !finished);
    }
}
