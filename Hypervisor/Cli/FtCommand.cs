using System.CommandLine;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Images;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft ft IMAGE</c>: backup, primary and relay as processes on loopback; prints where the client connects.</summary>
public static class FtCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "a Multiboot kernel or a bundled guest name" };
        var mem = new Option<string>("--mem", "-m") { Description = "guest RAM (e.g. 64M)", DefaultValueFactory = _ => "64M" };
        var disk = new Option<string?>("--disk") { Description = "a raw disk image both nodes share (only the live one touches it); FILE,readonly for a read-only disk" };
        var command = new Command("ft", "Run IMAGE fault-tolerant: backup, primary and relay as separate processes on loopback") { image, mem, disk };
        command.SetAction(parse => CliErrors.Guard("ft", () =>
        {
            string img = parse.GetValue(image)!;
            GuestImages.Resolve(img); // bad input fails here, not in three children
            string? diskSpec = parse.GetValue(disk);
            if (diskSpec is not null)
            {
                var (path, readOnly) = MachineOptions.ParseDisk(diskSpec);
                Storage.RawDiskFile.Open(path, readOnly).Dispose();
            }
            using var cts = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                cts.Cancel();
            };
            using var cluster = new FtProcesses { Line = l => Console.Out.WriteLine($"[{l.Child}] {l.Text}") };
            string address;
            try
            {
                address = cluster.StartAsync(diskSpec is null ? [img, "--mem", parse.GetValue(mem)!] : [img, "--mem", parse.GetValue(mem)!, "--disk", diskSpec], [], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            }
            catch (ClusterStartException e)
            {
                Console.Error.WriteLine($"vmft ft: {e.Message}");
                return 1;
            }
            Console.Out.WriteLine($"ft: clients connect to {address} (Ctrl-C stops all)");
            Console.Out.Flush();
            // Runs until Ctrl-C, or until every node has ended (the guest exited or both failed).
            while (!cts.IsCancellationRequested && !(cluster.Primary!.HasExited && cluster.Backup!.HasExited))
                cts.Token.WaitHandle.WaitOne(200);
            return 0;
        }));
        return command;
    }
}
