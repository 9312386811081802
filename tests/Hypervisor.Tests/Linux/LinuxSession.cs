using System.Diagnostics;
using System.Text;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Serial;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Recording;
using Xunit;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>
/// One recorded session with Debian's unmodified 686 kernel, shared by the Linux tests (a boot is
/// billions of instructions): <c>vmft record</c>'s path with the command line a user types
/// (console=ttyS0 alone, 256 MiB, virtual time), a console that types <c>echo $((6*7))</c> at the
/// first shell prompt and <c>poweroff -f</c> at the next, until the kernel halts. Snapshots go into
/// the recording every <see cref="SnapshotInterval"/> instructions, as <c>vmft record</c>'s default,
/// so a debugger opens it anywhere without replaying the boot from power-on.
/// </summary>
public sealed class LinuxSession : IDisposable
{
    public const string CommandLine = "console=ttyS0";
    public const uint RamSize = 256u << 20;
    public const ulong CheckpointInterval = 250_000_000;
    public const ulong SnapshotInterval = 100_000_000;
    private const ulong Limit = 20_000_000_000;

    public LinuxGuestImage Image { get; } = LinuxGuestImage.Default;
    public string? Problem { get; }
    public string Output => _console?.Output.ToString() ?? "";
    public ulong? MarkerPosition => _console?.MarkerPosition;
    public RunOutcome? Outcome { get; }
    public int ExitCode { get; }
    public string RecordingPath { get; } = Path.Combine(Path.GetTempPath(), $"vmft-linux-{Environment.ProcessId}-{Guid.NewGuid():N}.vmrec");
    public TimeSpan Elapsed { get; }

    private readonly ShellConsole? _console;

    public LinuxSession()
    {
        Problem = Image.Problem;
        if (Problem is not null) return;
        var wall = Stopwatch.StartNew();
        byte[] kernel = File.ReadAllBytes(Image.Kernel), initrd = File.ReadAllBytes(Image.Initrd);
        var machine = new PcMachine(new MachineConfiguration { RamSize = RamSize });
        machine.LoadKernel(kernel, Image.Kernel, new KernelOptions { CommandLine = CommandLine, Initrd = initrd, InitrdName = Image.Initrd });
        var header = RecordedMachine.HeaderFor(machine, ClockMode.Virtual, Image.Kernel, kernel, CommandLine, embedImage: true, Image.Initrd, initrd);
        _console = new ShellConsole(() => machine.Cpu.Position, "echo $((6*7))", "poweroff -f");
        var writer = RecordingWriter.Create(RecordingPath, header);
        var runner = new LiveRunner(machine, ClockMode.Virtual, _console, new RecordingSink(writer))
        {
            CheckpointInterval = CheckpointInterval,
            Snapshots = new RecordingSnapshotter(machine, SnapshotInterval),
        };
        Outcome = runner.Run(Limit);
        writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
        ExitCode = RunCommand.Report(machine, Outcome);
        Elapsed = wall.Elapsed;
    }

    /// <summary>Fails the calling test with one line when the image is not built (CI builds it first).</summary>
    public void RequireImage()
    {
        if (Problem is not null) Assert.Fail(Problem);
    }

    public void Dispose()
    {
        _console?.Dispose();
        try
        {
            File.Delete(RecordingPath);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Types each command at a shell prompt ("# ") that follows the marker, one command per prompt.</summary>
    internal sealed class ShellConsole(Func<ulong> position, params string[] commands) : QueuedSerialBackend
    {
        public StringBuilder Output { get; } = new();
        public ulong? MarkerPosition { get; private set; }
        private int _next;
        private int _searchFrom;

        public override void Write(byte value)
        {
            Output.Append((char)value);
            if (MarkerPosition is null)
            {
                if (Output.Length >= LinuxGuestImage.Marker.Length && EndsWith(LinuxGuestImage.Marker))
                {
                    MarkerPosition = position();
                    _searchFrom = Output.Length;
                }
                return;
            }
            if (_next < commands.Length && value == ' ' && EndsWith("# "))
            {
                Enqueue(Encoding.ASCII.GetBytes(commands[_next++] + "\n"));
                _searchFrom = Output.Length;
            }
        }

        private bool EndsWith(string s)
        {
            if (Output.Length < s.Length || Output.Length - s.Length < _searchFrom) return false;
            for (int i = 0; i < s.Length; i++)
                if (Output[Output.Length - s.Length + i] != s[i]) return false;
            return true;
        }

        public override void Flush()
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class LinuxSessionCollection : ICollectionFixture<LinuxSession>
{
    public const string Name = "linux session";
}
