using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Serial;
using VmFt.Hypervisor.Tests.Cli;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging;

/// <summary>
/// <c>vmft diff</c> on recordings whose first difference is known by construction: a copy of a log
/// with one input changed (and its checkpoints recomputed, so it is a genuine recording of the run
/// that input leads to) must differ first exactly where that input is applied.
/// </summary>
public class RecordingDiffTests : IClassFixture<RecordingDiffTests.KvstoreRun>, IDisposable
{
    private const string Script = "c1 1 PUT a x\nc1 2 GET a\nc1 3 PUT b 12345\nc2 1 GET b\nSHUTDOWN\n";

    /// <summary>Serial input that is all there before the run starts: with virtual time the recording is the same every time.</summary>
    private sealed class FixedInput : QueuedSerialBackend
    {
        public FixedInput(string text)
        {
            if (text.Length > 0) Enqueue(Encoding.ASCII.GetBytes(text));
            CloseInput();
        }

        public override void Write(byte value) { }
        public override void Flush() { }
    }

    /// <summary>One kvstore run in virtual time, recorded once for the whole class.</summary>
    public sealed class KvstoreRun
    {
        public RecordingHeader Header { get; }
        public List<LogEvent> Events { get; }

        public KvstoreRun() => (Header, Events) = Record("kvstore", ClockMode.Virtual, Script);
    }

    private readonly KvstoreRun _run;
    private readonly string _dir = Directory.CreateTempSubdirectory("vmft-diff-").FullName;

    public RecordingDiffTests(KvstoreRun run) => _run = run;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (RecordingHeader, List<LogEvent>) Record(string guest, ClockMode clock, string input, ulong checkpointInterval = 4_000)
    {
        byte[] image = BundledImages.Get(guest);
        var machine = new PcMachine(new MachineConfiguration { RamSize = 16u << 20 });
        machine.LoadMultiboot(image, guest, new MultibootOptions());
        var header = RecordedMachine.HeaderFor(machine, clock, guest, image, "", embedImage: true);
        var log = new EventList();
        using var serial = new FixedInput(input);
        var outcome = new LiveRunner(machine, clock, serial, log) { CheckpointInterval = checkpointInterval, SliceInstructions = 2_000 }.Run(4_000_000_000);
        Assert.Equal(MachineExitReason.DebugExit, outcome.Reason);
        return (header, log.Events.ToList());
    }

    /// <summary>
    /// Replays an edited log on a fresh machine and rewrites it as the recording of that run: every
    /// checkpoint gets the hash this run really has, and where the run can no longer follow the log
    /// (it idles before the next event, the UART refuses input, the exit moves) the log ends there.
    /// </summary>
    private static List<LogEvent> Regenerate(RecordingHeader header, IEnumerable<LogEvent> edited)
    {
        var machine = RecordedMachine.Build(header, "edited");
        var output = new List<LogEvent>();
        foreach (var e in edited)
        {
            if (!RunTo(machine, e.Position))
            {
                Cut(machine, output);
                break;
            }
            if (e is CheckpointEvent c)
            {
                output.Add(c with { StateHash = machine.StateHash() });
                continue;
            }
            if (e is GuestExitEvent x && x.Reason != (byte)MachineExitReason.PositionReached && (byte)machine.RunUntil(x.Position) != x.Reason)
            {
                Cut(machine, output);
                break;
            }
            try
            {
                EventApplier.Apply(machine, e);
            }
            catch (DivergenceException)
            {
                Cut(machine, output);
                break;
            }
            output.Add(e);
        }
        return output.Select((e, i) => e with { Sequence = (ulong)i + 1 }).ToList();

        static void Cut(PcMachine m, List<LogEvent> log)
        {
            log.Add(new CheckpointEvent(0, m.Cpu.Position, m.StateHash()));
            log.Add(new GuestExitEvent(0, m.Cpu.Position, (byte)MachineExitReason.PositionReached, -1));
        }
    }

    private static bool RunTo(PcMachine machine, ulong position)
    {
        while (machine.Cpu.Position < position)
        {
            var reason = machine.RunUntil(position);
            if (machine.Cpu.Position == position) break;
            if (reason != MachineExitReason.PositionReached) return false;
        }
        return true;
    }

    private (string Path, RecordingContents Contents) Write(RecordingHeader header, IEnumerable<LogEvent> events)
    {
        string path = Path.Combine(_dir, $"r{Guid.NewGuid():N}.vmrec");
        var writer = RecordingWriter.Create(path, header);
        foreach (var e in events)
            if (writer.Append(e)) writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
        return (path, RecordingReader.ReadFile(path));
    }

    /// <summary>A copy of the run's log where the byte 'x' of "PUT a x" arrives as 'y'; and that event's position.</summary>
    private (List<LogEvent> Events, ulong Position) WithValueChanged()
    {
        var events = _run.Events.ToList();
        int index = events.FindIndex(e => e is SerialInputEvent s && s.Data.Contains((byte)'x'));
        Assert.True(index >= 0, "the run's log holds the serial input");
        var original = (SerialInputEvent)events[index];
        byte[] data = (byte[])original.Data.Clone();
        data[Array.IndexOf(data, (byte)'x')] = (byte)'y';
        events[index] = original with { Data = data };
        return (events, original.Position);
    }

    [Fact]
    public void A_changed_serial_byte_is_the_first_difference_exactly_where_it_arrives()
    {
        var (edited, position) = WithValueChanged();
        Assert.True(_run.Events.Count(e => e is CheckpointEvent && e.Position < position) >= 3, $"the input arrives at {position}, after several checkpoints");
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, Regenerate(_run.Header, edited));

        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path);

        Assert.Equal(DiffOutcome.StateDiffers, r.Outcome);
        Assert.Equal(position, r.Position);
        Assert.NotEqual(r.HashA, r.HashB);
        var d = r.Detail!;
        // At the moment of arrival only the UART's receive buffer holds the other byte.
        Assert.Contains("COM1", d.Devices);
        Assert.Empty(d.Registers);
        Assert.Equal(0, d.MemoryRangeCount);
        Assert.Contains(d.EventsA, e => e is SerialInputEvent s && s.Position == position && s.Data.Contains((byte)'x'));
        Assert.Contains(d.EventsB, e => e is SerialInputEvent s && s.Position == position && s.Data.Contains((byte)'y'));
        Assert.NotNull(d.NextInstructionA);
        Assert.DoesNotContain("not mapped", d.NextInstructionA);
        Assert.InRange(r.PositionsExamined, 2, 64);
    }

    [Fact]
    public void Bisection_alone_finds_the_same_position()
    {
        var (edited, position) = WithValueChanged();
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, Regenerate(_run.Header, edited));
        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path, snapshots: null, probeInputFirst: false, CancellationToken.None);
        Assert.Equal(position, r.Position);
        var (start, end) = r.Bracket!.Value;
        Assert.True(start < position && position <= end, $"bracket ({start}, {end}]");
        // A bisection of the bracket: about log2 of its length, plus the bracket's two ends.
        Assert.InRange(r.PositionsExamined, 3, 4 + (int)Math.Ceiling(Math.Log2(end - start + 1)));
    }

    [Fact]
    public void The_changed_byte_reaches_ram_later_and_the_runs_end_in_different_states()
    {
        var (edited, position) = WithValueChanged();
        var regenerated = Regenerate(_run.Header, edited);
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, regenerated);
        // The same run, seen from B's side: the order of the arguments does not change the answer.
        var r = RecordingDiff.Compare(b.Contents, b.Path, a.Contents, a.Path);
        Assert.Equal(position, r.Position);

        // The final checkpoints differ, and the guest stored the value byte in RAM somewhere.
        var lastA = _run.Events.OfType<CheckpointEvent>().Last();
        var lastB = regenerated.OfType<CheckpointEvent>().Last();
        Assert.Equal(lastA.Position, lastB.Position);
        Assert.NotEqual(lastA.StateHash, lastB.StateHash);
        var machineA = RecordedMachine.Build(_run.Header, "a");
        var machineB = RecordedMachine.Build(_run.Header, "b");
        new Hypervisor.Replay.Replayer(machineA).Feed(_run.Events);
        new Hypervisor.Replay.Replayer(machineB).Feed(regenerated);
        int differing = 0;
        for (int i = 0; i < machineA.Memory.Ram.Length; i++)
            if (machineA.Memory.Ram[i] != machineB.Memory.Ram[i] && machineA.Memory.Ram[i] == (byte)'x' && machineB.Memory.Ram[i] == (byte)'y') differing++;
        Assert.True(differing > 0, "the value byte is in RAM");
    }

    [Fact]
    public void A_changed_clock_value_is_the_first_difference_at_its_position()
    {
        var events = _run.Events.ToList();
        var times = events.Select((e, i) => (e, i)).Where(p => p.e is TimeSetEvent && p.e.Position > 0).ToList();
        Assert.NotEmpty(times); // the idle guest's skips to its next timer
        var (evt, index) = times[times.Count / 2];
        var original = (TimeSetEvent)evt;
        events[index] = original with { Nanoseconds = original.Nanoseconds + 3_000_000 };
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, Regenerate(_run.Header, events));

        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path);

        Assert.Equal(DiffOutcome.StateDiffers, r.Outcome);
        Assert.Equal(original.Position, r.Position);
        Assert.Contains(r.Detail!.Devices, d => d.StartsWith("clock", StringComparison.Ordinal));
        Assert.Contains($"{original.Nanoseconds + 3_000_000}", string.Join(' ', r.Detail.Devices));
    }

    [Fact]
    public void A_realtime_run_with_another_power_on_clock_sample_differs_at_position_0()
    {
        var (header, events) = Record("hello", ClockMode.Realtime, "");
        int index = events.FindIndex(e => e is TimeSetEvent);
        Assert.Equal(0UL, events[index].Position);
        var original = (TimeSetEvent)events[index];
        var edited = events.ToList();
        edited[index] = original with { Nanoseconds = original.Nanoseconds + 1_000_000_000 };
        var a = Write(header, events);
        var b = Write(header, Regenerate(header, edited));

        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path);

        Assert.Equal(DiffOutcome.StateDiffers, r.Outcome);
        Assert.Equal(0UL, r.Position);
        Assert.Null(r.Bracket);
        Assert.Null(r.Detail!.LastInstructionA);
    }

    [Fact]
    public void A_recording_whose_own_checkpoint_does_not_hold_is_reported_as_not_replaying()
    {
        // Same inputs, but one checkpoint claims another hash: the logs disagree there, and the
        // replay of B refuses to pass it.
        var events = _run.Events.ToList();
        var checkpoints = events.Select((e, i) => (e, i)).Where(p => p.e is CheckpointEvent && p.e.Position > 0).ToList();
        var (evt, index) = checkpoints[checkpoints.Count / 2];
        var original = (CheckpointEvent)evt;
        events[index] = original with { StateHash = original.StateHash ^ 1 };
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, events);

        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path);

        Assert.Equal(DiffOutcome.NotReproducible, r.Outcome);
        Assert.Equal("B", r.FailedRun);
        Assert.Equal(original.Position, r.Position);
        Assert.Contains("state hash differs", r.Message);

        var (exit, stdout, _) = VmftProcess.Run("", "diff", a.Path, b.Path);
        Assert.Equal(3, exit);
        Assert.Contains($"{b.Path} does not replay on this build at position {original.Position}", stdout);
    }

    [Fact]
    public void Two_copies_of_one_recording_do_not_differ()
    {
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, _run.Events);
        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path);
        Assert.Equal(DiffOutcome.Identical, r.Outcome);
        var last = _run.Events.OfType<CheckpointEvent>().Last();
        Assert.Equal(last.Position, r.Position);
        Assert.Equal(last.StateHash, r.HashA); // the recorded run's own final hash
        Assert.Equal(r.HashA, r.HashB);
    }

    [Fact]
    public void A_recording_cut_short_is_a_prefix_that_differs_only_in_length()
    {
        var checkpoints = _run.Events.OfType<CheckpointEvent>().ToList();
        ulong cut = checkpoints[checkpoints.Count / 2].Position;
        Assert.True(cut > 0);
        var prefix = _run.Events.Where(e => e.Position < cut).Append(new GuestExitEvent(0, cut, (byte)MachineExitReason.PositionReached, -1));
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, Regenerate(_run.Header, prefix));

        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path);

        Assert.Equal(DiffOutcome.LengthDiffers, r.Outcome);
        Assert.Equal(cut, r.Position);
        Assert.Equal(cut, r.EndB);
        Assert.Equal(checkpoints[^1].Position, r.EndA);
        Assert.Equal(r.HashA, r.HashB);
    }

    [Fact]
    public void Recordings_of_another_configuration_are_reported_without_replaying()
    {
        var a = Write(_run.Header, _run.Events);
        var b = Write(_run.Header with { KernelCommandLine = "verbose" }, _run.Events);
        var r = RecordingDiff.Compare(a.Contents, a.Path, b.Contents, b.Path);
        Assert.Equal(DiffOutcome.ConfigurationDiffers, r.Outcome);
        Assert.Contains(r.ConfigurationDifferences, line => line.Contains("kernel command line") && line.Contains("verbose"));
        Assert.Equal(0, r.PositionsExamined);

        var (exit, stdout, _) = VmftProcess.Run("", "diff", a.Path, b.Path);
        Assert.Equal(1, exit);
        Assert.Contains("kernel command line", stdout);
    }

    [Fact]
    public void The_command_exits_0_for_the_same_run_and_1_with_the_position_for_a_different_one()
    {
        var (edited, position) = WithValueChanged();
        var a = Write(_run.Header, _run.Events);
        var same = Write(_run.Header, _run.Events);
        var b = Write(_run.Header, Regenerate(_run.Header, edited));

        var identical = VmftProcess.Run("", "diff", a.Path, same.Path);
        Assert.True(identical.Exit == 0, identical.Stdout + identical.Stderr);
        Assert.Matches(@"^no difference: both runs reach position \d+ with state hash [0-9A-F]{16}", identical.Stdout);
        Assert.Matches(@"\d+ positions? examined in \d+\.\d\d s", identical.Stdout);

        var different = VmftProcess.Run("", "diff", a.Path, b.Path);
        Assert.True(different.Exit == 1, different.Stdout + different.Stderr);
        Assert.Contains($"first difference at position {position}:", different.Stdout);
        Assert.Contains("devices: COM1", different.Stdout);
        Assert.Contains("serial input \"", different.Stdout);
    }

    [Fact]
    public void A_truncated_or_missing_recording_is_one_line_and_exit_2()
    {
        var a = Write(_run.Header, _run.Events);
        string truncated = Path.Combine(_dir, "truncated.vmrec");
        byte[] bytes = File.ReadAllBytes(a.Path);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length - 30)]);

        var (exit, stdout, stderr) = VmftProcess.Run("", "diff", a.Path, truncated);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(truncated, line);
        Assert.Matches(@"byte offset \d+", line);

        var missing = VmftProcess.Run("", "diff", Path.Combine(_dir, "nope.vmrec"), "--rerun");
        Assert.Equal(2, missing.Exit);
        Assert.Contains("no such file", Assert.Single(missing.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));

        var neither = VmftProcess.Run("", "diff", a.Path);
        Assert.Equal(2, neither.Exit);
    }

    [Fact]
    public void A_rerun_of_a_good_recording_finds_no_difference()
    {
        var a = Write(_run.Header, _run.Events);
        var (exit, stdout, stderr) = VmftProcess.Run("", "diff", a.Path, "--rerun");
        Assert.True(exit == 0, stdout + stderr);
        ulong end = _run.Events[^1].Position;
        Assert.Contains($"no difference: the recording and this build's replay of it both reach position {end} with state hash {_run.Events.OfType<CheckpointEvent>().Last().StateHash:X16}", stdout);
    }

    [Fact]
    public void A_rerun_that_no_longer_matches_the_recorded_hashes_brackets_the_divergence()
    {
        // The log claims the hashes of the original run, but carries another input: as if the
        // emulator had changed how it treats that input since the recording was made.
        var (edited, position) = WithValueChanged();
        var tampered = Write(_run.Header, edited);

        var r = RecordingDiff.CompareWithRerun(tampered.Contents, tampered.Path);

        Assert.Equal(DiffOutcome.StateDiffers, r.Outcome);
        var (start, end) = r.Bracket!.Value;
        Assert.True(start < position && position <= end, $"bracket ({start}, {end}] holds {position}");
        Assert.Contains(r.Detail!.EventsA, e => e.Position == position);

        var (exit, stdout, _) = VmftProcess.Run("", "diff", tampered.Path, "--rerun");
        Assert.Equal(1, exit);
        Assert.Contains("no longer reproduces", stdout);
    }
}
