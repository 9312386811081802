using System.Diagnostics;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// A vmft child process (backup, primary, relay, or a guest alone) whose every output line, on
/// either stream, is kept with the moment it arrived, so that a run that goes wrong can be read
/// afterwards, and whose start-up can be awaited on a line it prints.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly Func<double> _clock;
    private readonly List<ChildLine> _lines = [];
    private readonly List<(Func<string, string?> Match, TaskCompletionSource<string> Found)> _waits = [];
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;
    private bool _disposed;
    private int? _exitCode;

    /// <param name="clock">Milliseconds on the caller's clock, stamped on every line.</param>
    /// <param name="onLine">Sees every line as it arrives.</param>
    internal ChildProcess(string name, ProcessStartInfo start, Func<double> clock, Action<ChildLine>? onLine)
    {
        Name = name;
        _clock = clock;
        Arguments = string.Join(' ', start.ArgumentList);
        _process = Process.Start(start) ?? throw new ClusterStartException($"the {name} could not be started ({start.FileName})");
        StartedMs = clock();
        Id = _process.Id;
        void Received(string? text, bool error)
        {
            if (text is null)
            {
                if (Interlocked.Decrement(ref _openStreams) == 0) _ended.TrySetResult();
                return;
            }
            var line = new ChildLine(_clock(), name, error, text);
            lock (_lines)
            {
                _lines.Add(line);
                for (int i = _waits.Count - 1; i >= 0; i--)
                {
                    if (_waits[i].Match(text) is not { } value) continue;
                    _waits[i].Found.TrySetResult(value);
                    _waits.RemoveAt(i);
                }
            }
            onLine?.Invoke(line);
        }
        _process.OutputDataReceived += (_, e) => Received(e.Data, error: false);
        _process.ErrorDataReceived += (_, e) => Received(e.Data, error: true);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }
    public int Id { get; }
    public bool HasExited => _disposed || _process.HasExited;
    public double StartedMs { get; }
    /// <summary>The command line it was given (for the evidence of a run).</summary>
    public string Arguments { get; }

    /// <summary>Every line so far, in order.</summary>
    public IReadOnlyList<ChildLine> Lines
    {
        get { lock (_lines) return [.. _lines]; }
    }

    /// <summary>The exit code once it has exited (also after <see cref="Dispose"/>, which kills it if it still ran), else null.</summary>
    public int? ExitCode => _disposed ? _exitCode : _process.HasExited ? _process.ExitCode : null;

    /// <summary>Whether it was still running when it was disposed (then <see cref="ExitCode"/> is the kill's).</summary>
    public bool KilledAtDispose { get; private set; }

    /// <summary>SIGKILL: no goodbye, no flush. A process that already exited is left alone.</summary>
    public void Kill()
    {
        if (_disposed) return;
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>
    /// The value <paramref name="match"/> returns for the first line (printed before or after this call)
    /// it accepts. Throws <see cref="ClusterStartException"/>, with the reason in one line, when the
    /// process ends first or nothing matches within <paramref name="timeout"/>.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, string?> match, TimeSpan timeout, string what)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lines)
        {
            foreach (var l in _lines)
                if (match(l.Text) is { } value) return value;
            _waits.Add((match, found));
        }
        var first = await Task.WhenAny(found.Task, _ended.Task, Task.Delay(timeout)).ConfigureAwait(false);
        if (first == found.Task) return found.Task.Result;
        lock (_lines) _waits.RemoveAll(w => w.Found == found);
        if (first == _ended.Task) throw EndedBefore(what);
        throw new ClusterStartException($"the {Name} did not get to {what} within {timeout.TotalSeconds:F0} s{LastWords()}");
    }

    /// <summary>Completes when the process has closed its output (it exited, or is about to).</summary>
    public Task Ended => _ended.Task;

    /// <summary>The start-up failure of a process that ended before <paramref name="what"/>: its exit code and last words.</summary>
    public ClusterStartException EndedBefore(string what)
    {
        _process.WaitForExit(2000);
        string code = _process.HasExited ? $"exited with code {_process.ExitCode}" : "closed its output";
        return new ClusterStartException($"the {Name} {code} before {what}{LastWords()}");
    }

    /// <summary>The last error line (or the last line) it printed, as the end of a one-line reason.</summary>
    private string LastWords()
    {
        lock (_lines)
        {
            var last = _lines.LastOrDefault(l => l.Error) ?? _lines.LastOrDefault();
            return last is null ? " (it printed nothing)" : $": \"{last.Text}\"";
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            if (!_process.HasExited)
            {
                KilledAtDispose = true;
                _process.Kill(entireProcessTree: true);
            }
            _process.WaitForExit(5000);
            if (_process.HasExited) _exitCode = _process.ExitCode;
        }
        catch (InvalidOperationException)
        {
        }
        _disposed = true;
        _process.Dispose();
    }
}
