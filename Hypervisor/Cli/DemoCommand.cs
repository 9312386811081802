using System.CommandLine;
using VmFt.Hypervisor.Bench;
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
        var linux = new Option<bool>("--linux") { Description = "Debian's Linux kernel (from Guest/Images/linux/build.sh) and a shell session instead of kvstore; the primary dies in a busy shell loop" };
        var loop = new Option<int>("--loop-iterations") { Description = "with --linux: iterations of the shell loop the primary dies in", DefaultValueFactory = _ => 20_000 };
        var from = new Option<string?>("--from-recording") { Description = "with --linux: start from this recording of the boot (vmft record ... --clock virtual --until-output vmft-linux-ready) instead of booting first" };
        var command = new Command("demo", "Kill the primary in the middle of a client session and show the transcript is unchanged") { requests, seed, verbose, linux, loop, from };
        command.SetAction(parse => CliErrors.Guard("demo", () =>
        {
            if (parse.GetValue(linux))
            {
                int iterations = parse.GetValue(loop);
                if (iterations < 20) throw new UsageException($"--loop-iterations {iterations}: at least 20");
                var image = LinuxGuestImage.Default;
                string? boot = parse.GetValue(from);
                if (boot is not null && !File.Exists(boot)) throw new UsageException($"--from-recording {boot}: no such file");
                if (boot is null && image.Problem is not null) throw new UsageException(image.Problem);
                return LinuxFailoverDemo.Run(image, Console.Out, iterations, verbose: parse.GetValue(verbose), bootRecording: boot is null ? null : Path.GetFullPath(boot)).ExitCode;
            }
            int n = parse.GetValue(requests);
            if (n < 4) throw new UsageException("--requests: at least 4");
            return FailoverDemo.Run(n, parse.GetValue(seed) ?? Environment.TickCount, Console.Out, parse.GetValue(verbose));
        }));
        return command;
    }
}
