using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.ReplayLog.Recording;
using VmFt.Hypervisor.Serial;
using VmFt.Hypervisor.Storage;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// <c>vmft demo --linux</c>: Debian's kernel under FT as three processes, a person's shell session
/// scripted through the relay (<see cref="ShellDialogue"/>), the primary killed while the shell runs
/// a busy loop that prints as it goes, and what the client saw after the boot marker compared byte
/// for byte with a failure-free run of the same session (the guest alone, in virtual time). With a
/// disk, the FT pair shares the disk file and the failure-free run works on a copy of it made
/// before either starts.
/// </summary>
public static class LinuxFailoverDemo
{
    // loglevel=1: the kernel's own messages stay off the console from boot on; they come when its
    // timers say (a clocksource warning near 44 s of guest time landed in one run and not the other).
    public const string CommandLine = "console=ttyS0 loglevel=1";
    public const uint RamSize = 256u << 20;

    /// <summary>The session: a few commands, the busy loop the primary dies in, a few more after it.</summary>
    public static IReadOnlyList<string> Session(int loopIterations) =>
    [
        // Kernel messages off the console first: they come when the guest's timers say, not when
        // the client types, so a run and its reference could not agree on where they fall (a
        // reference that idled long in virtual time printed a clocksource warning mid-loop).
        "dmesg -n 1",
        "echo hello from $(uname -s) $((6*7))",
        "cat /proc/cmdline",
        $"i=0; while [ $i -lt {loopIterations} ]; do i=$((i+1)); [ $((i % {Math.Max(1, loopIterations / 10)})) -eq 0 ] && echo step $i; done; echo loop done $i",
        "echo after the loop $((123*456))",
        "ls /",
    ];

    /// <summary>Index of the busy loop in <see cref="Session"/>.</summary>
    public const int LoopCommand = 3;

    /// <summary>
    /// A scripted session: the commands typed one per prompt, and when the primary dies: once command
    /// <paramref name="KillIn"/> has been typed and the guest has printed <paramref name="Tick"/>
    /// (a line's start, "\nstep ") <paramref name="KillAfterTicks"/> times.
    /// </summary>
    public sealed record Script(IReadOnlyList<string> Commands, int KillIn, string Tick, int KillAfterTicks);

    /// <summary>The demo's own session (<see cref="Session"/>), killed at the loop's second step.</summary>
    public static Script BusyLoop(int loopIterations) => new(Session(loopIterations), LoopCommand, "\nstep ", 2);

    /// <summary>What a run saw: the client's transcript after the marker, and the reference one.</summary>
    public sealed record Outcome(int ExitCode, string? Transcript, string? Reference, bool Killed);

    /// <summary>Runs the demo; exit code 0 when the transcript is the failure-free one, 1 otherwise.</summary>
    /// <param name="startInfo">How to start a vmft child (default: this vmft again).</param>
    /// <param name="nodeArgs">Extra arguments for both nodes (failure-detector timing on a loaded machine, say).</param>
    /// <param name="bootRecording">A recording of the boot to the marker (<see cref="RecordBoot"/>) to start from; null: make one first.</param>
    /// <param name="script">The session (default: <see cref="BusyLoop"/> of <paramref name="loopIterations"/>).</param>
    /// <param name="disk">A raw disk image the guest gets (the FT pair shares it); null: none. The boot recording, if given, must have been made with it.</param>
    public static Outcome Run(LinuxGuestImage image, TextWriter output, int loopIterations = 20_000, TimeSpan? timeout = null, bool verbose = false,
        Func<IEnumerable<string>, ProcessStartInfo>? startInfo = null, IReadOnlyList<string>? nodeArgs = null, string? bootRecording = null,
        Script? script = null, string? disk = null)
    {
        var limit = timeout ?? TimeSpan.FromMinutes(10);
        var clock = Stopwatch.StartNew();
        void Say(string s)
        {
            lock (output) output.WriteLine($"{clock.Elapsed.TotalSeconds,7:F2}s  {s}");
            output.Flush();
        }

        script ??= BusyLoop(loopIterations);
        // The kernel boots once, alone in virtual time, to its marker; the reference session and both
        // FT nodes start where that recording ends, so every run sees the same machine at the same instant.
        string? temporary = null;
        if (bootRecording is null)
        {
            bootRecording = temporary = Path.Combine(Path.GetTempPath(), $"vmft-linux-boot-{Environment.ProcessId}-{Guid.NewGuid():N}.vmrec");
            Say($"booting {Path.GetFileName(image.Kernel)} to '{LinuxGuestImage.Marker}' in virtual time, recorded");
            ulong booted = RecordBoot(image, bootRecording, disk);
            Say($"booted: {booted:N0} instructions");
        }
        // The failure-free run writes to a disk of its own, as the pair's disk was before the session.
        string? referenceDisk = disk is null ? null : disk + ".failure-free";
        if (disk is not null) File.Copy(disk, referenceDisk!, overwrite: true);
        try
        {
            return RunFrom(bootRecording, script, disk, referenceDisk, Say, clock, limit, verbose, startInfo, nodeArgs);
        }
        finally
        {
            if (temporary is not null) File.Delete(temporary);
            if (referenceDisk is not null) File.Delete(referenceDisk);
        }
    }

    private static Outcome RunFrom(string bootRecording, Script script, string? disk, string? referenceDisk, Action<string> Say, Stopwatch clock, TimeSpan limit, bool verbose,
        Func<IEnumerable<string>, ProcessStartInfo>? startInfo, IReadOnlyList<string>? nodeArgs)
    {
        var commands = script.Commands;
        // The reference runs beside the FT pair.
        Say($"the failure-free run: the session alone in virtual time from the boot's end, {commands.Count} shell commands, beside the FT run");
        var referenceRun = Task.Run(() =>
        {
            string? text = Reference(bootRecording, commands, out ulong instructions, referenceDisk);
            Say(text is null ? "the failure-free run did not finish its session" : $"failure-free run done: {instructions:N0} instructions, {text.Length} bytes of session");
            return text;
        });

        using var cluster = new FtProcesses
        {
            StartInfo = startInfo ?? FtProcesses.SelfStartInfo,
            Line = l =>
            {
                string line = l.Text;
                if (verbose || line.Contains("lost") || line.Contains("arbiter") || line.Contains("drained") || line.Contains("live") ||
                    line.Contains("following") || line.Contains("halt") || line.Contains("refused") || line.StartsWith("vmft", StringComparison.Ordinal))
                    Say($"[{l.Child}] {line}");
            },
        };
        string address;
        try
        {
            string[] machine = disk is null ? ["--from-recording", bootRecording] : ["--from-recording", bootRecording, "--disk", disk];
            address = cluster.StartAsync(machine, nodeArgs ?? [], TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        }
        catch (ClusterStartException e)
        {
            Say($"could not start the cluster: {e.Message}");
            return new Outcome(1, null, referenceRun.GetAwaiter().GetResult(), false);
        }
        Say($"backup pid {cluster.Backup!.Id}, primary pid {cluster.Primary!.Id}, relay pid {cluster.Relay!.Id}; the client connects to {address}; both nodes resumed the boot");

        var dialogue = new ShellDialogue(null, commands);
        bool killed = false;
        using (var client = new TcpClient())
        {
            client.Connect(IPEndPoint.Parse(address));
            var stream = client.GetStream();
            stream.ReadTimeout = 500;
            var buffer = new byte[4096];
            int ticks = 0;
            // The limit is the session's: the boot before it takes what the machine's load makes it take.
            var session = Stopwatch.StartNew();
            while (!dialogue.Finished && session.Elapsed < limit)
            {
                int n;
                try
                {
                    n = stream.Read(buffer, 0, buffer.Length);
                }
                catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut })
                {
                    if (cluster.Primary.HasExited && cluster.Backup!.HasExited)
                    {
                        Say($"both nodes have ended (primary exit {cluster.Primary.ExitCode}, backup exit {cluster.Backup.ExitCode}): nobody serves the session");
                        break;
                    }
                    continue;
                }
                if (n == 0)
                {
                    Say("the relay closed the client's connection");
                    break;
                }
                string? line = dialogue.Take(buffer.AsSpan(0, n));
                if (line is not null)
                {
                    Say($"client types: {line.TrimEnd()}");
                    stream.Write(System.Text.Encoding.ASCII.GetBytes(line));
                }
                // Kill once the loop has printed enough ticks: the shell is busy and output is flowing.
                if (!killed && dialogue.Typed == script.KillIn + 1 && (ticks = Count(dialogue.AfterMarker, script.Tick)) >= script.KillAfterTicks)
                {
                    if (cluster.Backup!.HasExited || cluster.Primary.Lines.Any(l => l.Text.Contains("backup lost", StringComparison.Ordinal)))
                    {
                        Say("the pair did not hold together until the kill (the primary lost its backup first): no failover to show");
                        return new Outcome(1, dialogue.AfterMarker, referenceRun.GetAwaiter().GetResult(), false);
                    }
                    Say($"the loop has printed {ticks} lines starting '{script.Tick.Trim()}': killing the primary (pid {cluster.Primary.Id})");
                    cluster.Primary.Kill();
                    killed = true;
                }
            }
        }
        string? reference = referenceRun.GetAwaiter().GetResult();
        if (reference is null) return new Outcome(1, dialogue.AfterMarker, null, killed);
        if (!dialogue.Finished)
        {
            Say($"the session did not finish within {limit.TotalSeconds:F0} s ({dialogue.Typed} of {commands.Count} commands typed)");
            return new Outcome(1, dialogue.AfterMarker, reference, killed);
        }
        string got = dialogue.AfterMarker;
        int diff = FailoverDemo.FirstDifference(got, reference);
        if (diff < 0)
        {
            Say($"transcript identical to the failure-free run ({got.Length} bytes{(killed ? ", the primary killed mid-loop" : ", but the primary was never killed")})");
            return new Outcome(killed ? 0 : 1, got, reference, killed);
        }
        Say($"transcript differs at byte {diff} of the session: got {Excerpt(got, diff)}, the failure-free run has {Excerpt(reference, diff)}");
        return new Outcome(1, got, reference, killed);
    }

    /// <summary>The nodes' machine arguments: the kernel, the initrd, the command line a user types, RAM.</summary>
    public static string[] MachineArgs(LinuxGuestImage image) =>
        [image.Kernel, "--initrd", image.Initrd, "--append", CommandLine, "--mem", $"{RamSize >> 20}M"];

    /// <summary>
    /// Boots the kernel alone in virtual time and records it until the marker is out (with snapshots,
    /// so that resuming replays little); returns the instructions it took. With a disk, the guest has
    /// it from the start (its drivers probe it during the boot) and the runs that resume the
    /// recording give it again (<c>--disk</c>).
    /// </summary>
    public static ulong RecordBoot(LinuxGuestImage image, string path, string? disk = null)
    {
        byte[] kernel = File.ReadAllBytes(image.Kernel), initrd = File.ReadAllBytes(image.Initrd);
        using var file = disk is null ? null : RawDiskFile.Open(disk, readOnly: false);
        var machine = new PcMachine(new MachineConfiguration
        {
            RamSize = RamSize,
            Disk = file is null ? null : new DiskConfiguration((ulong)file.Length / DiskConfiguration.SectorSize, false),
        });
        machine.LoadKernel(kernel, image.Kernel, new KernelOptions { CommandLine = CommandLine, Initrd = initrd, InitrdName = image.Initrd });
        var header = RecordedMachine.HeaderFor(machine, ClockMode.Virtual, image.Kernel, kernel, CommandLine, embedImage: true, image.Initrd, initrd, disk);
        using var reached = new CancellationTokenSource();
        using var console = new WatchingSerialBackend(new DiscardingConsole(), LinuxGuestImage.Marker, reached.Cancel);
        var writer = RecordingWriter.Create(path, header);
        var runner = new LiveRunner(machine, ClockMode.Virtual, console, new RecordingSink(writer))
        {
            Snapshots = new RecordingSnapshotter(machine, 100_000_000),
            Disk = file is null ? null : new DiskService(machine.Disk!, file),
        };
        var outcome = runner.Run(40_000_000_000, reached.Token);
        writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
        if (!reached.IsCancellationRequested)
            throw new InvalidOperationException($"the kernel did not print '{LinuxGuestImage.Marker}' ({outcome.Reason} at {machine.Cpu.Position} instructions)");
        return machine.Cpu.Position;
    }

    /// <summary>
    /// The session on the guest alone in virtual time from the boot's end: what it prints (null if it
    /// never finished). <paramref name="disk"/>: the file the guest's disk is (the boot recording's has one).
    /// </summary>
    public static string? Reference(string bootRecording, IReadOnlyList<string> commands, out ulong instructions, string? disk = null)
    {
        var machine = ResumedMachine.AtEnd(bootRecording, out var header);
        using var file = disk is null ? null : RawDiskFile.Open(disk, header.DiskReadOnly);
        if (file is not null && (machine.Disk is null || (ulong)file.Length / DiskConfiguration.SectorSize != header.DiskSectors))
            throw new InvalidOperationException($"{disk}: not the size of the disk recorded in {bootRecording}");
        using var done = new CancellationTokenSource();
        var dialogue = new ShellDialogue(null, commands);
        using var console = new DialogueSerialBackend(dialogue, done.Cancel);
        new LiveRunner(machine, ClockMode.Virtual, console) { Disk = file is null ? null : new DiskService(machine.Disk!, file) }.Run(20_000_000_000, done.Token);
        instructions = machine.Cpu.Position;
        return dialogue.Finished ? dialogue.AfterMarker : null;
    }

    /// <summary>A console nobody reads, for a boot nobody watches.</summary>
    private sealed class DiscardingConsole : QueuedSerialBackend
    {
        public override void Write(byte value)
        {
        }

        public override void Flush()
        {
        }
    }

    private static int Count(string text, string tick)
    {
        int n = 0;
        for (int at = text.IndexOf(tick, StringComparison.Ordinal); at >= 0; at = text.IndexOf(tick, at + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    private static string Excerpt(string s, int at) =>
        at >= s.Length ? "(end)" : "\"" + s.Substring(at, Math.Min(40, s.Length - at)).Replace("\n", "\\n").Replace("\r", "\\r").Replace("\u001b", "\\e") + "\"";
}
