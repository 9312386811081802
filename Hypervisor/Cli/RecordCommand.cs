using System.CommandLine;
using Microsoft.Extensions.Logging;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Serial;
using VmFt.Hypervisor.Storage;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft record IMAGE -o FILE</c>: runs a guest alone and writes a self-contained recording.</summary>
public static class RecordCommand
{
    public static Command Create()
    {
        var options = new MachineOptions();
        var output = new Option<string>("--output", "-o") { Description = "the recording file to write", Required = true };
        var serial = new Option<string>("--serial") { Description = "stdio (raw on a terminal; Ctrl-A x ends the recording), stdio,line, or tcp:HOST:PORT", DefaultValueFactory = _ => "stdio" };
        var noImage = new Option<bool>("--no-embed-image") { Description = "store only the image's (and initrd's) name and SHA-256, not their bytes" };
        var checkpoints = new Option<ulong>("--checkpoint-interval") { Description = "instructions between state-hash checkpoints", DefaultValueFactory = _ => 50_000_000UL };
        var snapshots = new Option<ulong>("--snapshot-interval") { Description = "instructions between snapshots stored in the recording, so that a debugger starts near any position (0: none)", DefaultValueFactory = _ => 100_000_000UL };
        var command = new Command("record", "Run a guest alone and record every nondeterministic event to a file");
        options.AddTo(command, network: true);
        command.Options.Add(output);
        command.Options.Add(serial);
        command.Options.Add(noImage);
        command.Options.Add(checkpoints);
        command.Options.Add(snapshots);
        var until = new Option<string?>("--until-output") { Description = "end the recording once the guest's serial output has printed this text (at the end of that slice; deterministic in virtual time)" };
        command.Options.Add(until);
        command.SetAction(parse => CliErrors.Guard("record", () =>
        {
            var clock = MachineOptions.ParseClock(parse.GetValue(options.Clock)!);
            if (parse.GetValue(options.Rom) is not null) throw new UsageException("--rom: recording a ROM boot is not supported yet");
            if (parse.GetValue(checkpoints) == 0) throw new UsageException("--checkpoint-interval: must be at least 1");
            string path = parse.GetValue(output)!;
            var machine = options.Build(parse, out var files, out var diskFile);
            using var disk = diskFile;
            var network = options.OpenNetwork(parse, machine);
            using var tap = network?.Backend;
            var header = RecordedMachine.HeaderFor(machine, clock, files!.ImageName, files.Image, files.CommandLine, !parse.GetValue(noImage),
                files.InitrdName, files.Initrd, disk?.Name);
            using var logging = CliLogging.Create(parse, statusOnStdout: false); // stdout is the guest's console
            using var userBackend = RunCommand.OpenSerial(parse.GetValue(serial)!, logging);
            using var reached = new CancellationTokenSource();
            string? untilText = parse.GetValue(until);
            if (untilText is { Length: 0 }) throw new UsageException("--until-output: must not be empty");
            ISerialBackend backend = untilText is null ? userBackend : new WatchingSerialBackend(userBackend, untilText, reached.Cancel);
            RecordingWriter writer;
            try
            {
                writer = RecordingWriter.Create(path, header);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--output: cannot write {path}: {e.Message}");
            }
            var machineLog = logging.CreateLogger(ShellLog.MachineCategory);
            machine.Log = line => ShellLog.MachineDiagnostic(machineLog, line);
            ulong snapshotInterval = parse.GetValue(snapshots);
            var snapshotter = snapshotInterval == 0 ? null : new RecordingSnapshotter(machine, snapshotInterval);
            var runner = new LiveRunner(machine, clock, backend, new RecordingSink(writer))
            {
                CheckpointInterval = parse.GetValue(checkpoints),
                Snapshots = snapshotter,
                Disk = disk is null ? null : new DiskService(machine.Disk!, disk),
                Network = network,
            };
            var quit = RunCommand.QuitToken(userBackend);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(quit, reached.Token);
            var outcome = runner.Run(parse.GetValue(options.MaxInstructions), stop.Token);
            writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
            long bytes = new FileInfo(path).Length;
            string stored = snapshotter is null ? "" : $", {snapshotter.Count} snapshots ({snapshotter.PagesWritten} pages)";
            Console.Error.WriteLine($"vmft record: {outcome.Instructions} instructions in {outcome.Elapsed.TotalSeconds:F2} s ({outcome.Mips:F1} MIPS), {bytes} bytes written to {path}{stored}");
            if (machine.Cpu.Core == Guest.Processor.CpuCore.Translator)
                Console.Error.WriteLine($"vmft record: {CoreOption.Describe(machine.Cpu.Translation, outcome.Instructions)}");
            // Ctrl-A x ends the recording there; it is complete and replays like any other.
            return quit.IsCancellationRequested ? RunCommand.Quit(userBackend) : RunCommand.Report(machine, outcome);
        }));
        return command;
    }
}
