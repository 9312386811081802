using System.CommandLine;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft bench disk</c>: the Linux guest's disk measured with dd inside it, alone, under FT and in QEMU, side by side.</summary>
public static class BenchDiskCommand
{
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "the folder Guest/Images/linux/build.sh wrote (default: its cache folder)" };
        var diskMiB = new Option<int>("--disk-mib") { Description = "the disk's size in MiB (random I/O falls anywhere on it)", DefaultValueFactory = _ => 64 };
        var seqMiB = new Option<int>("--seq-mib") { Description = "MiB moved by each sequential dd", DefaultValueFactory = _ => 32 };
        var ios = new Option<int>("--ios") { Description = "4 KiB random reads, and writes, per machine", DefaultValueFactory = _ => 200 };
        var noQemu = new Option<bool>("--no-qemu") { Description = "skip the QEMU column" };
        var timeout = new Option<int>("--timeout") { Description = "seconds each step may take", DefaultValueFactory = _ => 600 };
        var failure = new Option<int>("--timeout-ms") { Description = "the FT nodes' failure detector: silence after which the peer is declared dead (heartbeat a fifth of it)", DefaultValueFactory = _ => 500 };
        var command = new Command("disk",
            "The Linux guest's disk measured inside it with busybox dd: sequential MB/s and 4 KiB random IOPS alone (real time), under FT (shared disk) and in QEMU TCG, the log rate of a read, the go-live time with I/O in flight")
            { dir, diskMiB, seqMiB, ios, noQemu, timeout, failure };
        command.SetAction(parse => CliErrors.Guard("bench disk", () =>
        {
            int disk = parse.GetValue(diskMiB), seq = parse.GetValue(seqMiB), count = parse.GetValue(ios), seconds = parse.GetValue(timeout);
            if (disk is < 8 or > 4096) throw new UsageException($"--disk-mib {disk}: between 8 and 4096");
            if (seq < 1 || seq > disk) throw new UsageException($"--seq-mib {seq}: between 1 and the disk's {disk} MiB");
            if (count is < 10 or > 1_000_000) throw new UsageException($"--ios {count}: between 10 and 1000000");
            if (seconds < 1) throw new UsageException($"--timeout {seconds}: at least 1 second");
            int failureMs = parse.GetValue(failure);
            if (failureMs is < 50 or > 60_000) throw new UsageException($"--timeout-ms {failureMs}: between 50 and 60000");
            var image = parse.GetValue(dir) is { } d ? new LinuxGuestImage(d) : LinuxGuestImage.Default;
            if (image.Problem is { } problem) throw new UsageException(problem);
            foreach (var v in image.Versions) Console.WriteLine($"bench disk: {v}");
            var settings = new LinuxDiskBenchmark.Settings(disk, seq, count, TimeSpan.FromSeconds(seconds), !parse.GetValue(noQemu)) { FailureTimeoutMs = failureMs };
            LinuxDiskBenchmark.Figures f;
            try
            {
                f = LinuxDiskBenchmark.Run(image, settings, s => Console.WriteLine($"bench disk: {s}"));
            }
            catch (Exception e) when (e is InvalidOperationException or ClusterStartException or IOException or System.Net.Sockets.SocketException)
            {
                Console.Error.WriteLine($"vmft bench disk: {e.Message}");
                return 1;
            }
            Console.WriteLine($"bench disk: /dev/vda of {disk} MiB, measured inside Linux with busybox dd, seconds by the guest's clock; MB = 10^6 bytes");
            foreach (string line in Table(f, settings)) Console.WriteLine(line);
            return f.FailoverProblem is null ? 0 : 1;
        }));
        return command;
    }

    /// <summary>The figures side by side: VmFt alone, under FT, FT/solo, QEMU, VmFt/QEMU (alone); then the FT-only figures.</summary>
    public static IReadOnlyList<string> Table(LinuxDiskBenchmark.Figures f, LinuxDiskBenchmark.Settings s)
    {
        var lines = new List<string> { $"  {"",-42} {"VmFt solo",12} {"VmFt FT",12} {"FT/solo",8} {"QEMU TCG",12} {"VmFt/QEMU",10}" };
        void Row(string what, string unit, Func<LinuxDiskBenchmark.Row, double> value)
        {
            double solo = value(f.Solo), ft = value(f.Ft);
            string qemu = f.Qemu is { } q ? $"{value(q),7:F1} {unit,-4}" : "-";
            string vsQemu = f.Qemu is { } r ? $"{solo / value(r):F2}" : "-";
            lines.Add($"  {what,-42} {solo,7:F1} {unit,-4} {ft,7:F1} {unit,-4} {ft / solo,8:F2} {qemu,12} {vsQemu,10}");
        }
        Row("sequential write, 1 MiB dd, fsync", "MB/s", r => r.WriteMBps);
        Row("sequential read, 1 MiB dd, direct", "MB/s", r => r.ReadMBps);
        Row("random 4 KiB read, direct", "IOPS", r => r.RandomReadIops);
        Row("random 4 KiB write, direct + flush", "IOPS", r => r.RandomWriteIops);
        Row("dd without the disk (the loop's ceiling)", "/s", r => r.NoDiskPerSecond);
        if (f.QemuProblem is { } problem) lines.Add($"  QEMU TCG: {problem}");
        lines.Add($"  FT log during the sequential read         {f.ReadLogMbit:F1} Mbit/s ({f.ReadLogBytes} bytes in {f.ReadSeconds:F2} s for {s.SequentialMiB} MiB read: {f.ReadLogBytes / (s.SequentialMiB * 1048576.0):F2} log bytes per byte read)");
        if (f.Failover is { } g)
        {
            lines.Add($"  go-live with I/O in flight                kill to backup live {g.KillToLiveMs:F0} ms, kill to the first output after it {g.KillToOutputMs:F0} ms, longest silence at the client {g.LongestSilenceMs:F0} ms (failure declared after {s.FailureTimeoutMs} ms of silence); {g.InFlight} requests in flight performed again ({g.InFlightWrites} writes or flushes)");
            lines.Add($"  {"",-42} {g.LiveLine}");
        }
        else
            lines.Add($"  go-live with I/O in flight                not measured: {f.FailoverProblem}");
        return lines;
    }
}
