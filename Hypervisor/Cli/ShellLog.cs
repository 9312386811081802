using Microsoft.Extensions.Logging;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// Lines the shell logs for the library objects it runs: the guest machine's diagnostics, where the
/// serial console listens, the debug bench's progress (event ids 5000-5099). "vmft: serial console
/// on tcp:" is read by tools (see docs/ARCHITECTURE.md).
/// </summary>
internal static partial class ShellLog
{
    public const string MachineCategory = "VmFt.Machine";
    public const string SerialCategory = "VmFt.Serial";
    public const string BenchCategory = "VmFt.Bench";

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "vmft: {Line}")]
    public static partial void MachineDiagnostic(ILogger logger, string line);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "vmft: serial console on tcp:{Endpoint}{Waiting}")]
    public static partial void SerialListening(ILogger logger, System.Net.EndPoint? endpoint, string waiting);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "bench debug: {Step}")]
    public static partial void DebugBenchProgress(ILogger logger, string step);
}
