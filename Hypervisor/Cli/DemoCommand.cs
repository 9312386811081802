using System.CommandLine;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft demo</c>: the failover demo (<see cref="FailoverDemo"/>) with its options.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var requests = new Option<int>("--requests") { Description = "requests the client sends", DefaultValueFactory = _ => 60 };
        var seed = new Option<int?>("--seed") { Description = "chooses the kill point (default: random)" };
        var verbose = new Option<bool>("--verbose") { Description = "show every line the processes print" };
        var command = new Command("demo", "Kill the primary in the middle of a client session and show the transcript is unchanged") { requests, seed, verbose };
        command.SetAction(parse => CliErrors.Guard("demo", () =>
        {
            int n = parse.GetValue(requests);
            if (n < 4) throw new UsageException("--requests: at least 4");
            return FailoverDemo.Run(n, parse.GetValue(seed) ?? Environment.TickCount, Console.Out, parse.GetValue(verbose));
        }));
        return command;
    }
}
