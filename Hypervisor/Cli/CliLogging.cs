using System.CommandLine;
using Microsoft.Extensions.Logging;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>--log-level</c> (on every command) and the logger factory a command hands the library. The
/// lines are the library's own (<c>[LoggerMessage]</c> methods, categories VmFt.Primary,
/// VmFt.Backup, VmFt.Relay, VmFt.Channel, VmFt.Machine, VmFt.Serial, VmFt.Bench).
/// </summary>
public static class CliLogging
{
    private static readonly string[] Levels = ["trace", "debug", "information", "warning", "error", "critical", "none"];

    public static Option<string> LevelOption { get; } = new("--log-level")
    {
        Description = "which log lines to show: trace, debug, information (the default: the status lines), warning, error, critical or none; the logging channel's own lines show from debug",
        DefaultValueFactory = _ => "information",
        Recursive = true,
    };

    public static LogLevel ParseLevel(string text)
    {
        int i = Array.IndexOf(Levels, text.ToLowerInvariant());
        if (i < 0) throw new UsageException($"--log-level: '{text}' is not a level ({string.Join(", ", Levels)})");
        return (LogLevel)i;
    }

    /// <summary>
    /// The factory for one command. With <paramref name="statusOnStdout"/> (the nodes and the relay,
    /// whose status lines are their output) information and below go to stdout, warnings and errors
    /// to stderr; otherwise (stdout is the guest's console or a report) every line goes to stderr.
    /// </summary>
    public static ILoggerFactory Create(ParseResult parse, bool statusOnStdout)
    {
        var level = ParseLevel(parse.GetValue(LevelOption)!);
        return LoggerFactory.Create(builder =>
        {
            builder.SetMinimumLevel(level);
            // At information the channel's lines would add to the nodes' status lines, which tools read.
            builder.AddFilter(NodeProcess.ChannelCategory, level <= LogLevel.Debug ? level : LogLevel.None);
            builder.AddProvider(new StatusLineLoggerProvider(statusOnStdout ? LogLevel.Warning : LogLevel.Trace));
        });
    }
}
