using System.CommandLine;
using VmFt.Hypervisor.Bench;

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
        var command = new Command("linux", "Boot the Linux guest to its marker in virtual time (seconds, instructions) beside QEMU TCG on the same files") { dir, append, mem, noQemu, timeout };
        command.SetAction(parse => CliErrors.Guard("bench linux", () =>
        {
            var image = parse.GetValue(dir) is { } d ? new LinuxGuestImage(d) : LinuxGuestImage.Default;
            if (image.Problem is { } problem) throw new UsageException(problem);
            uint ram = SizeParser.ParseRam(parse.GetValue(mem)!);
            int seconds = parse.GetValue(timeout);
            if (seconds < 1) throw new UsageException("--timeout: at least 1 second");
            string line = parse.GetValue(append)!;
            foreach (var v in image.Versions) Console.WriteLine($"bench linux: {v}");
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
