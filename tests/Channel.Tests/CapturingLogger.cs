using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace VmFt.Channel.Tests;

/// <summary>Keeps every log line so tests can check that refusals and failures are reported.</summary>
public sealed class CapturingLogger : ILogger
{
    public ConcurrentQueue<(EventId Id, LogLevel Level, string Message)> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue((eventId, logLevel, formatter(state, exception)));

    public bool Has(int eventId, string fragment) =>
        Lines.Any(l => l.Id.Id == eventId && l.Message.Contains(fragment, StringComparison.Ordinal));
}
