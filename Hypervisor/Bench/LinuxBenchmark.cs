using System.Diagnostics;
using System.Text;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Serial;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// <c>vmft bench linux</c>: the Linux guest booted to its marker in virtual time, seconds and guest
/// instructions, and QEMU's TCG booting the same files in the same run (qemu-system-i386 -kernel
/// -initrd -append, -nographic -no-reboot), as a ratio.
/// </summary>
public static class LinuxBenchmark
{
    public sealed record Figures(ulong Instructions, double Seconds, string? QemuProblem, double? QemuSeconds)
    {
        public double Mips => Instructions / Math.Max(Seconds, 1e-9) / 1e6;
    }

    public static Figures Run(LinuxGuestImage image, string commandLine, uint ramSize, bool withQemu, TimeSpan timeout, Action<string> log)
    {
        var (instructions, seconds) = BootVmft(image, commandLine, ramSize, timeout);
        log($"VmFt: marker after {instructions} instructions, {seconds:F2} s ({instructions / seconds / 1e6:F1} MIPS)");
        if (!withQemu) return new Figures(instructions, seconds, "not asked for (--no-qemu)", null);
        var (problem, qemuSeconds) = BootQemu(image, commandLine, ramSize, timeout);
        if (qemuSeconds is { } q) log($"QEMU TCG: marker after {q:F2} s");
        return new Figures(instructions, seconds, problem, qemuSeconds);
    }

    /// <summary>Boots to the marker as <c>vmft run --clock virtual</c> does; returns the instructions and seconds it took.</summary>
    public static (ulong Instructions, double Seconds) BootVmft(LinuxGuestImage image, string commandLine, uint ramSize, TimeSpan timeout)
    {
        byte[] kernel = File.ReadAllBytes(image.Kernel), initrd = File.ReadAllBytes(image.Initrd);
        var wall = Stopwatch.StartNew();
        var machine = new PcMachine(new MachineConfiguration { RamSize = ramSize });
        machine.LoadKernel(kernel, image.Kernel, new KernelOptions { CommandLine = commandLine, Initrd = initrd, InitrdName = image.Initrd });
        using var stop = new CancellationTokenSource(timeout);
        using var console = new MarkerWatch(stop);
        var outcome = new LiveRunner(machine, ClockMode.Virtual, console).Run(0, stop.Token);
        double seconds = wall.Elapsed.TotalSeconds;
        if (!console.Seen)
            throw new InvalidOperationException(outcome.Reason == MachineExitReason.PositionReached
                ? $"no '{LinuxGuestImage.Marker}' within {timeout.TotalSeconds:F0} s ({outcome.Instructions} instructions)"
                : $"the guest stopped ({outcome.Reason}) after {outcome.Instructions} instructions without printing '{LinuxGuestImage.Marker}'");
        return (machine.Cpu.Position, seconds);
    }

    /// <summary>What a missing QEMU is, in one line.</summary>
    public const string QemuMissing = "qemu-system-i386 is not installed (Debian: apt-get install qemu-system-x86)";

    /// <summary>
    /// Starts <c>qemu-system-i386 -kernel -initrd -append -m -nographic -no-reboot</c> (TCG) on the
    /// guest's files, its serial console on the standard streams, with <paramref name="extra"/>
    /// arguments (a <c>-drive</c>, say); null when it is not installed.
    /// </summary>
    public static Process? StartQemu(LinuxGuestImage image, string commandLine, uint ramSize, IEnumerable<string> extra)
    {
        var info = new ProcessStartInfo("qemu-system-i386")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-kernel", image.Kernel, "-initrd", image.Initrd, "-append", commandLine, "-m", $"{ramSize >> 20}M", "-nographic", "-no-reboot" })
            info.ArgumentList.Add(a);
        foreach (var a in extra) info.ArgumentList.Add(a);
        try
        {
            return Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Boots QEMU on the same files to the marker; the problem when it cannot, else the seconds.</summary>
    public static (string? Problem, double? Seconds) BootQemu(LinuxGuestImage image, string commandLine, uint ramSize, TimeSpan timeout)
    {
        var wall = Stopwatch.StartNew();
        var process = StartQemu(image, commandLine, ramSize, []);
        if (process is null) return (QemuMissing, null);
        using (process)
        {
            var seen = new TaskCompletionSource<double>(TaskCreationOptions.RunContinuationsAsynchronously);
            var text = new StringBuilder();
            var reader = Task.Run(() =>
            {
                var buffer = new char[4096];
                int n;
                while ((n = process.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
                {
                    text.Append(buffer, 0, n);
                    if (text.ToString().Contains(LinuxGuestImage.Marker, StringComparison.Ordinal)) seen.TrySetResult(wall.Elapsed.TotalSeconds);
                }
                seen.TrySetResult(-1);
            });
            _ = process.StandardError.ReadToEndAsync();
            bool finished = seen.Task.Wait(timeout);
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            process.WaitForExit();
            if (!finished) return ($"QEMU printed no '{LinuxGuestImage.Marker}' within {timeout.TotalSeconds:F0} s", null);
            double s = seen.Task.Result;
            return s < 0 ? ($"QEMU exited (status {process.ExitCode}) without printing '{LinuxGuestImage.Marker}'", null) : (null, s);
        }
    }

    /// <summary>A console that stops the run once the marker has gone by.</summary>
    private sealed class MarkerWatch(CancellationTokenSource stop) : QueuedSerialBackend
    {
        private readonly StringBuilder _tail = new();
        public bool Seen { get; private set; }

        public override void Write(byte value)
        {
            if (Seen) return;
            _tail.Append((char)value);
            if (_tail.Length > 256) _tail.Remove(0, _tail.Length - 64);
            if (_tail.ToString().Contains(LinuxGuestImage.Marker, StringComparison.Ordinal))
            {
                Seen = true;
                stop.Cancel();
            }
        }

        public override void Flush()
        {
        }
    }
}
