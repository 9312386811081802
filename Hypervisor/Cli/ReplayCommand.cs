using System.CommandLine;
using System.Diagnostics;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft replay FILE</c>: replays a recording to its end, checking every state hash.</summary>
public static class ReplayCommand
{
    /// <summary>Exit code when the replay does not reproduce the recording.</summary>
    public const int DivergedExit = 3;

    public static Command Create()
    {
        var file = new Argument<string>("recording") { Description = "a recording made by vmft record" };
        var showOutput = new Option<bool>("--show-output") { Description = "print the guest's serial output as it is replayed" };
        var core = CoreOption.Create();
        var command = new Command("replay", "Replay a recording and check that it reproduces the recorded run") { file, showOutput, core };
        command.SetAction(parse => CliErrors.Guard("replay", () =>
        {
            string path = parse.GetValue(file)!;
            var cpuCore = CoreOption.Parse(parse.GetValue(core));
            var contents = RecordingFile.Read(path, allowTruncated: true);
            var machine = RecordedMachine.Build(contents.Header, path);
            machine.Cpu.Core = cpuCore;
            if (parse.GetValue(showOutput)) machine.SerialOutput = b => Console.Out.Write((char)b);
            var replayer = new Replayer(machine);
            var clock = Stopwatch.StartNew();
            try
            {
                replayer.Feed(contents.Events);
            }
            catch (DivergenceException e)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"vmft replay: {path}: diverged: {e.Message}");
                return DivergedExit;
            }
            var r = replayer.Result;
            double seconds = clock.Elapsed.TotalSeconds;
            Console.Out.Flush();
            if (!contents.IsComplete)
                Console.Error.WriteLine($"vmft replay: {path}: the recording is truncated ({contents.Truncation!.Message}); replayed what it holds");
            // "OK" only for a whole recording: a prefix that replays is not a run that did.
            string verdict = contents.IsComplete ? "replay OK" : "replay of a truncated recording";
            Console.WriteLine($"{verdict}: {r.Position} instructions, state hash {r.StateHash:X16} ({r.CheckpointsVerified} checkpoints verified, {r.EventsApplied} events, {seconds:F2} s, {r.Position / Math.Max(seconds, 1e-9) / 1e6:F1} MIPS)");
            if (cpuCore == Guest.Processor.CpuCore.Translator)
                Console.WriteLine($"replay: {CoreOption.Describe(machine.Cpu.Translation, r.Position)}");
            return contents.IsComplete ? 0 : DivergedExit;
        }));
        return command;
    }
}
