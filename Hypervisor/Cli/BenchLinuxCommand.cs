using System.CommandLine;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft bench linux</c>: Linux booted to its marker, and QEMU TCG booting the same files.</summary>
public static class BenchLinuxCommand
{
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "the folder Guest/Images/linux/build.sh wrote (default: its cache folder)" };
        var append = new Option<string>("--append", "--cmdline") { Description = "the kernel command line", DefaultValueFactory = _ => "console=ttyS0" };
        var mem = new Option<string>("--mem", "-m") { Description = "guest RAM", DefaultValueFactory = _ => "256M" };
        var noQemu = new Option<bool>("--no-qemu") { Description = "skip the QEMU comparison" };
        var timeout = new Option<int>("--timeout") { Description = "seconds each boot may take", DefaultValueFactory = _ => 600 };
        var ft = new Option<bool>("--ft") { Description = "instead: the guest in real time alone and under FT (processes on loopback): boot, idle logging rate, a shell loop FT/solo, backup lag, the client's silence at a primary kill" };
        var loop = new Option<int>("--loop-iterations") { Description = "with --ft: iterations of the timed shell loop", DefaultValueFactory = _ => 5000 };
        var idle = new Option<int>("--idle") { Description = "with --ft: seconds of idle shell over which the logging rate is measured", DefaultValueFactory = _ => 20 };
        var command = new Command("linux", "Boot the Linux guest to its marker in virtual time (seconds, instructions) beside QEMU TCG on the same files") { dir, append, mem, noQemu, timeout, ft, loop, idle };
        command.SetAction(parse => CliErrors.Guard("bench linux", () =>
        {
            var image = parse.GetValue(dir) is { } d ? new LinuxGuestImage(d) : LinuxGuestImage.Default;
            if (image.Problem is { } problem) throw new UsageException(problem);
            uint ram = SizeParser.ParseRam(parse.GetValue(mem)!);
            int seconds = parse.GetValue(timeout);
            if (seconds < 1) throw new UsageException("--timeout: at least 1 second");
            string line = parse.GetValue(append)!;
            foreach (var v in image.Versions) Console.WriteLine($"bench linux: {v}");
            if (parse.GetValue(ft))
            {
                int iterations = parse.GetValue(loop), idleSeconds = parse.GetValue(idle);
                if (iterations < 100) throw new UsageException($"--loop-iterations {iterations}: at least 100");
                if (idleSeconds is < 2 or > 3600) throw new UsageException($"--idle {idleSeconds}: between 2 and 3600 seconds");
                LinuxFtBenchmark.Figures g;
                try
                {
                    g = LinuxFtBenchmark.Run(image, iterations, TimeSpan.FromSeconds(idleSeconds), TimeSpan.FromSeconds(seconds), s => Console.WriteLine($"bench linux: {s}"));
                }
                catch (Exception e) when (e is InvalidOperationException or ClusterStartException or IOException or System.Net.Sockets.SocketException)
                {
                    Console.Error.WriteLine($"vmft bench linux: {e.Message}");
                    return 1;
                }
                Console.WriteLine($"  boot to the shell, real time     solo {g.SoloBootSeconds,7:F1} s   FT {g.FtBootSeconds,7:F1} s");
                Console.WriteLine($"  shell loop of {iterations,-7}           solo {g.SoloLoopSeconds,7:F2} s   FT {g.FtLoopSeconds,7:F2} s   FT/solo time {g.LoopRatio:F2} (throughput {1 / g.LoopRatio:F2})");
                Console.WriteLine($"  idle logging                     {g.IdleMbit:F4} Mbit/s ({g.IdleLogBytes} bytes over {g.IdleGuestSeconds:F1} guest s)");
                Console.WriteLine($"  backup lag                       max {g.MaxLagMs:F1} ms (boot included), {g.LoopLagMs:F1} ms during the loop");
                Console.WriteLine($"  failover, primary killed         longest silence at the client {g.FailoverGapMs:F0} ms; {g.FailoverLine ?? "(no go-live line)"}");
                return 0;
            }
            Console.WriteLine($"bench linux: {image.Kernel} --initrd {image.Initrd} --append \"{line}\" --mem {ram >> 20}M, to '{LinuxGuestImage.Marker}'");
            LinuxBenchmark.Figures f;
            try
            {
                f = LinuxBenchmark.Run(image, line, ram, !parse.GetValue(noQemu), TimeSpan.FromSeconds(seconds), _ => { });
            }
            catch (InvalidOperationException e)
            {
                Console.Error.WriteLine($"vmft bench linux: {e.Message}");
                return 1;
            }
            Console.WriteLine($"  VmFt (virtual time)  {f.Seconds,8:F2} s  {f.Instructions} guest instructions  {f.Mips:F1} MIPS");
            if (f.QemuSeconds is { } q)
                Console.WriteLine($"  QEMU TCG             {q,8:F2} s  VmFt/QEMU time {f.Seconds / q:F2}");
            else
                Console.WriteLine($"  QEMU TCG: {f.QemuProblem}");
            return 0;
        }));
        return command;
    }
}
