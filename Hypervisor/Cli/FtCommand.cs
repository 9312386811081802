using System.CommandLine;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Images;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft ft IMAGE</c>: backup, primary and relay as processes on loopback; prints where the client connects.</summary>
public static class FtCommand
{
    public static Command Create()
    {
        var image = new Argument<string?>("image") { Description = "a Linux bzImage, a Multiboot kernel or a bundled guest name", Arity = ArgumentArity.ZeroOrOne };
        var fromRecording = new Option<string?>("--from-recording") { Description = "both nodes start where this recording ends (instead of IMAGE)" };
        var mem = new Option<string>("--mem", "-m") { Description = "guest RAM (e.g. 64M)", DefaultValueFactory = _ => "64M" };
        var cmdline = new Option<string?>("--cmdline", "--append") { Description = "the kernel command line" };
        var initrd = new Option<string?>("--initrd") { Description = "an initial RAM disk for a Linux kernel" };
        var disk = new Option<string?>("--disk") { Description = "a raw disk image both nodes share (only the live one touches it); FILE,readonly for a read-only disk" };
        var arbiter = new Option<string?>("--arbiter") { Description = "etcd://HOST:PORT[,HOST:PORT...]: the nodes ask this etcd cluster (default: a file arbiter in a fresh directory)" };
        var respawn = new Option<bool>("--respawn") { Description = "after every failover, start a backup that joins the node now live (a live copy of its machine), so the next failure is survived too" };
        var net = new Option<string?>("--net")
        {
            Description = "a virtio-net card on a TAP interface: tap,ifname=NAME[,mac=...]; the relay owns the TAP and puts each frame the guest sends on it once, in order, across failovers",
        };
        var command = new Command("ft", "Run IMAGE fault-tolerant: backup, primary and relay as separate processes on loopback") { image, mem, cmdline, initrd, arbiter, fromRecording, disk, respawn, net };
        command.SetAction(parse => CliErrors.Guard("ft", () =>
        {
            string? img = parse.GetValue(image);
            List<string> machineArgs;
            if (parse.GetValue(fromRecording) is { } recording)
            {
                if (img is not null || parse.GetValue(initrd) is not null) throw new UsageException("--from-recording: the recording says which image and initrd; give neither with it");
                if (!File.Exists(recording)) throw new UsageException($"--from-recording {recording}: no such file");
                machineArgs = ["--from-recording", Path.GetFullPath(recording)];
            }
            else
            {
                if (img is null) throw new UsageException("no image: give a kernel file, a bundled guest name, or --from-recording FILE");
                GuestImages.Resolve(img); // bad input fails here, not in three children
                machineArgs = [img, "--mem", parse.GetValue(mem)!];
            }
            if (parse.GetValue(initrd) is { } rd)
            {
                if (!File.Exists(rd)) throw new UsageException($"--initrd {rd}: no such file");
                machineArgs.AddRange(["--initrd", Path.GetFullPath(rd)]);
            }
            if (parse.GetValue(cmdline) is { } line) machineArgs.AddRange(["--cmdline", line]);
            if (parse.GetValue(disk) is { } diskSpec)
            {
                var spec = MachineOptions.ParseDisk(diskSpec);
                if (spec.NonShared) throw new UsageException($"--disk {diskSpec}: ft runs both nodes on one disk file; for a disk of each node's own, start primary and backup yourself with --disk FILE,nonshared");
                Storage.RawDiskFile.Open(spec.Path, spec.ReadOnly).Dispose();
                machineArgs.AddRange(["--disk", diskSpec]);
            }
            List<string> relayArgs = [];
            if (parse.GetValue(net) is { } netSpec)
            {
                if (parse.GetValue(respawn))
                    throw new UsageException("--respawn: a backup cannot join a guest with a network card yet (the live copy carries no frame streams); drop --respawn or --net");
                // Bad input fails here, not in three children: the TAP is opened once and let go (the relay opens it for good).
                MachineOptions.OpenTap(netSpec).Dispose();
                if (parse.GetValue(fromRecording) is null) machineArgs.AddRange(["--net", netSpec]);
                relayArgs.AddRange(["--net", netSpec]);
            }
            using var cts = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                cts.Cancel();
            };
            string? etcd = parse.GetValue(arbiter);
            if (etcd is not null)
            {
                try
                {
                    if (EtcdArbiter.ParseAddress(etcd) is null) throw new UsageException($"--arbiter {etcd}: not an etcd://HOST:PORT[,HOST:PORT...] address");
                }
                catch (FormatException e)
                {
                    throw new UsageException($"--arbiter {e.Message}");
                }
            }
            using var cluster = new FtProcesses { Line = l => Console.Out.WriteLine($"[{l.Child}] {l.Text}"), Arbiter = etcd, Respawn = parse.GetValue(respawn), RelayArgs = relayArgs };
            string address;
            try
            {
                address = cluster.StartAsync(machineArgs, [], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            }
            catch (ClusterStartException e)
            {
                Console.Error.WriteLine($"vmft ft: {e.Message}");
                return 1;
            }
            Console.Out.WriteLine($"ft: clients connect to {address} (Ctrl-C stops all)");
            Console.Out.Flush();
            // Runs until Ctrl-C, or until every node has ended (the guest exited or all failed).
            while (!cts.IsCancellationRequested && !(cluster.Primary!.HasExited && cluster.Backup!.HasExited && cluster.Replacements.All(r => r.HasExited)))
                cts.Token.WaitHandle.WaitOne(200);
            return 0;
        }));
        return command;
    }
}
