using Microsoft.Extensions.Logging;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// The shell's log sink: each message is one line, exactly its text (no level, category or time:
/// other processes read these lines), written and flushed at once, on stdout below
/// <paramref name="stderrFrom"/> and on stderr from it. Synchronous on purpose: the console
/// provider writes from a queue on a thread of its own, so a status line logged just before a
/// SIGKILL could be lost, and the lines would lose their order with the shell's own output.
/// </summary>
internal sealed class StatusLineLoggerProvider(LogLevel stderrFrom) : ILoggerProvider
{
    private readonly Lock _gate = new();

    public ILogger CreateLogger(string categoryName) => new StatusLineLogger(this);

    public void Dispose()
    {
    }

    private void Write(LogLevel level, string line)
    {
        lock (_gate)
        {
            var writer = level >= stderrFrom ? Console.Error : Console.Out;
            writer.WriteLine(line);
            writer.Flush();
        }
    }

    private sealed class StatusLineLogger(StatusLineLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) provider.Write(logLevel, formatter(state, exception));
        }
    }
}
