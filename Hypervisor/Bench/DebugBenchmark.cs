using System.Diagnostics;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// The replay debugger's figures, side by side in one run on one cpubench workload: a solo run, the
/// same run recorded, the recording replayed, a debugging session moving to the end (taking
/// snapshots), and reverse-stepi at random positions, with the snapshot memory that bought it.
/// </summary>
public static class DebugBenchmark
{
    public sealed record Figures(
        ulong Instructions,
        double SoloSeconds,
        double RecordSeconds,
        double ReplaySeconds,
        double ForwardSeconds,
        long RecordingBytes,
        double[] ReverseStepMs,
        double[] FollowingReverseStepMs,
        SnapshotStatistics Snapshots,
        double OpenSeconds,
        double GotoEndSeconds)
    {
        public double RecordOverhead => RecordSeconds / SoloSeconds - 1;
        public double ReplayRatio => SoloSeconds / ReplaySeconds;
    }

    /// <summary>Steps back taken in a row after the first at each sampled position.</summary>
    private const int FollowingSteps = 10;

    /// <summary>cpubench instructions per iteration (its own loop), to size the run.</summary>
    private const ulong InstructionsPerIteration = 44_600;

    public static Figures Run(ulong instructions, int samples, SnapshotOptions snapshots, int seed, Action<string> progress)
    {
        int iterations = (int)Math.Max(1, instructions / InstructionsPerIteration);
        string commandLine = $"iterations={iterations}";
        byte[] image = BundledImages.Get("cpubench");
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"vmft-bench-debug-{Environment.ProcessId}.vmrec");
        try
        {
            progress($"solo run of cpubench ({commandLine})");
            var solo = Boot(image, commandLine);
            var soloOutcome = new LiveRunner(solo, ClockMode.Virtual, null).Run(0);

            progress("the same run, recorded");
            var recorded = Boot(image, commandLine);
            var header = RecordedMachine.HeaderFor(recorded, ClockMode.Virtual, "cpubench", image, commandLine, embedImage: true);
            var writer = RecordingWriter.Create(path, header);
            // As vmft record does by default: checkpoints every 50 M instructions, snapshots every 100 M.
            var snapshotter = new RecordingSnapshotter(recorded, 100_000_000);
            var recordOutcome = new LiveRunner(recorded, ClockMode.Virtual, null, new RecordingSink(writer)) { Snapshots = snapshotter }.Run(0);
            writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
            if (recorded.StateHash() != solo.StateHash()) throw new InvalidOperationException("the recorded run ended in another state than the solo run");

            progress("replaying the recording");
            var contents = RecordingReader.ReadFile(path);
            var replayer = new Replayer(RecordedMachine.Build(contents.Header, path));
            var clock = Stopwatch.StartNew();
            replayer.Feed(contents.Events);
            double replaySeconds = clock.Elapsed.TotalSeconds;
            if (replayer.Result.StateHash != solo.StateHash()) throw new InvalidOperationException("the replay ended in another state than the solo run");

            progress("debugging session: forwards to the end, taking snapshots");
            clock.Restart();
            var session = new ReplaySession(contents, path, snapshots);
            double openSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            session.Goto(session.EndPosition);
            double endSeconds = clock.Elapsed.TotalSeconds;
            // A session that ignores the recording's snapshots goes the whole way, taking its own.
            var walker = new ReplaySession(contents, path, snapshots with { UseRecordingSnapshots = false });
            clock.Restart();
            walker.Goto(walker.EndPosition);
            double forwardSeconds = clock.Elapsed.TotalSeconds;
            walker = null;

            var random = new Random(seed);
            var latencies = new double[samples];
            var following = new List<double>();
            for (int i = 0; i < samples; i++)
            {
                ulong position = FollowingSteps + 1 + (ulong)random.NextInt64((long)session.EndPosition - FollowingSteps);
                // Arrive going forwards from the grid snapshot below, as a continue or a step would:
                // a backward goto would leave nearby snapshots that make the first step back cheap.
                ulong interval = session.SnapshotStatistics.Interval;
                session.Goto(position - position % interval);
                session.Goto(position);
                progress($"reverse-stepi {i + 1}/{samples} at position {position}");
                clock.Restart();
                session.ReverseStepInstruction();
                latencies[i] = clock.Elapsed.TotalMilliseconds;
                if (session.Position != position - 1) throw new InvalidOperationException($"reverse-stepi from {position} arrived at {session.Position}");
                // Then more steps back in a row, as gdb makes for one reverse-step.
                for (int k = 0; k < FollowingSteps; k++)
                {
                    clock.Restart();
                    session.ReverseStepInstruction();
                    following.Add(clock.Elapsed.TotalMilliseconds);
                }
                if (session.Position != position - 1 - FollowingSteps) throw new InvalidOperationException($"reverse-stepi from {position} went astray to {session.Position}");
            }
            return new Figures(soloOutcome.Instructions, soloOutcome.Elapsed.TotalSeconds, recordOutcome.Elapsed.TotalSeconds, replaySeconds,
                forwardSeconds, new FileInfo(path).Length, latencies, [.. following], session.SnapshotStatistics, openSeconds, endSeconds);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static PcMachine Boot(byte[] image, string commandLine)
    {
        var machine = new PcMachine(new MachineConfiguration());
        machine.LoadMultiboot(image, "cpubench", new MultibootOptions { CommandLine = commandLine });
        return machine;
    }
}
