using System.Diagnostics;
using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// cpubench recorded by VmFt (as <c>vmft record</c> does by default: realtime clock, checkpoints
/// every 50 M instructions, snapshots every 100 M, the image embedded) under each core, and by
/// QEMU's record/replay (<c>qemu-system-i386 -icount shift=auto,rr=record</c>) on the same image
/// and command line: wall time of each, from start to the guest's exit.
/// </summary>
public static class QemuRecordComparison
{
    public sealed record VmftRun(CpuCore Core, ulong Instructions, double Seconds, long RecordingBytes, string Output, TranslationStatistics Translation);

    /// <summary>Records cpubench in-process with <paramref name="core"/>; the file is deleted afterwards.</summary>
    public static VmftRun RecordVmft(int iterations, CpuCore core)
    {
        byte[] image = BundledImages.Get("cpubench");
        string commandLine = iterations > 0 ? $"iterations={iterations}" : "";
        string path = Path.Combine(Path.GetTempPath(), $"vmft-bench-vs-qemu-{Environment.ProcessId}.vmrec");
        try
        {
            var wall = Stopwatch.StartNew();
            var machine = new PcMachine(new MachineConfiguration());
            machine.Cpu.Core = core;
            machine.LoadMultiboot(image, "cpubench", new MultibootOptions { CommandLine = commandLine });
            var output = new StringBuilder();
            machine.SerialOutput = b => output.Append((char)b);
            var header = RecordedMachine.HeaderFor(machine, ClockMode.Realtime, "cpubench", image, commandLine, embedImage: true);
            var writer = RecordingWriter.Create(path, header);
            var runner = new LiveRunner(machine, ClockMode.Realtime, null, new RecordingSink(writer))
            {
                Snapshots = new RecordingSnapshotter(machine, 100_000_000),
            };
            var outcome = runner.Run(0);
            writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
            double seconds = wall.Elapsed.TotalSeconds;
            return new VmftRun(core, outcome.Instructions, seconds, new FileInfo(path).Length, output.ToString(), machine.Cpu.Translation);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Records cpubench with QEMU; null seconds and the problem when it cannot (not installed, no
    /// "cpubench OK" on its console, a timeout).
    /// </summary>
    public static (double? Seconds, long RecordingBytes, string? Problem) RecordQemu(int iterations, TimeSpan timeout)
    {
        string elf = Path.Combine(Path.GetTempPath(), $"vmft-bench-vs-qemu-{Environment.ProcessId}.elf");
        string rr = Path.Combine(Path.GetTempPath(), $"vmft-bench-vs-qemu-{Environment.ProcessId}.rr");
        File.WriteAllBytes(elf, BundledImages.Get("cpubench"));
        var info = new ProcessStartInfo("qemu-system-i386")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "-kernel", elf, "-append", iterations > 0 ? $"iterations={iterations}" : "", "-nographic", "-monitor", "none",
            "-serial", "stdio", "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-icount", $"shift=auto,rr=record,rrfile={rr}",
        })
            info.ArgumentList.Add(a);
        try
        {
            var wall = Stopwatch.StartNew();
            Process process;
            try
            {
                process = Process.Start(info)!;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return (null, 0, LinuxBenchmark.QemuMissing);
            }
            using (process)
            {
                var stdout = process.StandardOutput.ReadToEndAsync();
                _ = process.StandardError.ReadToEndAsync();
                if (!process.WaitForExit(timeout))
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit();
                    return (null, 0, $"QEMU did not finish within {timeout.TotalSeconds:F0} s");
                }
                double seconds = wall.Elapsed.TotalSeconds;
                string text = stdout.GetAwaiter().GetResult();
                if (!text.Contains("cpubench OK", StringComparison.Ordinal) && !text.Contains("cpubench UNCHECKED", StringComparison.Ordinal))
                    return (null, 0, $"QEMU exited (status {process.ExitCode}) without cpubench's OK line");
                return (seconds, File.Exists(rr) ? new FileInfo(rr).Length : 0, null);
            }
        }
        finally
        {
            File.Delete(elf);
            File.Delete(rr);
        }
    }
}
