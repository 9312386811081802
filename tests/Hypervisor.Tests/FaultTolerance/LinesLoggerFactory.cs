using Microsoft.Extensions.Logging;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>A logger factory that hands every message, as its text alone, to <paramref name="line"/> (a test's output).</summary>
internal sealed class LinesLoggerFactory(Action<string> line) : ILoggerFactory, ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Lines(line);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private sealed class Lines(Action<string> line) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            line(formatter(state, exception));
    }
}
