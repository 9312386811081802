using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Replay;
using VmFt.Hypervisor.Serial;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.Replay;

/// <summary>Every recorded run replays to the same state hash at every checkpoint.</summary>
public class RecordReplayTests
{
    /// <summary>Serial input that arrives in pieces, on a background thread, at host-chosen moments.</summary>
    private sealed class ScriptedSerial : QueuedSerialBackend
    {
        public StringBuilder Output { get; } = new();

        public ScriptedSerial(string script, int delayMs)
        {
            var feeder = new Thread(() =>
            {
                foreach (var line in script.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    Thread.Sleep(delayMs);
                    Enqueue(Encoding.ASCII.GetBytes(line + "\n"));
                }
                CloseInput();
            }) { IsBackground = true };
            feeder.Start();
        }

        public override void Write(byte value) => Output.Append((char)value);
        public override void Flush() { }
    }

    private static PcMachine Boot(string guest, string cmdline = "", CpuCore core = CpuCore.Interpreter)
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 16u << 20 });
        machine.Cpu.Core = core;
        machine.LoadMultiboot(BundledImages.Get(guest), guest, new MultibootOptions { CommandLine = cmdline });
        return machine;
    }

    private static (EventList Log, RunOutcome Outcome, PcMachine Machine) Record(string guest, ClockMode clock, string cmdline = "", ISerialBackend? serial = null, ulong limit = 400_000_000, CpuCore core = CpuCore.Interpreter)
    {
        var machine = Boot(guest, cmdline, core);
        var log = new EventList();
        var outcome = new LiveRunner(machine, clock, serial, log) { CheckpointInterval = 2_000_000, SliceInstructions = 50_000 }.Run(limit);
        return (log, outcome, machine);
    }

    public static TheoryData<string, string, ClockMode> Guests => new()
    {
        { "hello", "", ClockMode.Virtual },
        { "hello", "", ClockMode.Realtime },
        { "selftest", "", ClockMode.Virtual },
        { "selftest", "", ClockMode.Realtime },
        { "cpubench", "iterations=20", ClockMode.Virtual },
        { "cpubench", "iterations=20", ClockMode.Realtime },
    };

    public static TheoryData<string, string, CpuCore, CpuCore> CrossCore => new()
    {
        { "selftest", "", CpuCore.Interpreter, CpuCore.Translator },
        { "selftest", "", CpuCore.Translator, CpuCore.Interpreter },
        { "cpubench", "iterations=20", CpuCore.Interpreter, CpuCore.Translator },
        { "cpubench", "iterations=20", CpuCore.Translator, CpuCore.Interpreter },
    };

    /// <summary>Realtime clock: time samples land at whatever positions the host's clock put them, and the other core must meet each exactly.</summary>
    [Theory]
    [MemberData(nameof(CrossCore))]
    public void A_recording_made_under_one_core_replays_under_the_other(string guest, string cmdline, CpuCore recordCore, CpuCore replayCore)
    {
        var (log, outcome, recorded) = Record(guest, ClockMode.Realtime, cmdline, core: recordCore);
        Assert.Equal(MachineExitReason.DebugExit, outcome.Reason);
        var replayer = new Replayer(Boot(guest, cmdline, replayCore));
        replayer.Feed(log.Events);
        var result = replayer.Result;
        Assert.Equal(recorded.Cpu.Position, result.Position);
        Assert.Equal(recorded.StateHash(), result.StateHash);
        Assert.Equal(log.Events.OfType<CheckpointEvent>().Count(), result.CheckpointsVerified);
        Assert.True(log.Events.Count(e => e is TimeSetEvent) > 2, "too few time samples to test positions");
    }

    [Theory]
    [MemberData(nameof(Guests))]
    public void Recorded_runs_replay_to_the_same_state(string guest, string cmdline, ClockMode clock)
    {
        var (log, outcome, recorded) = Record(guest, clock, cmdline);
        Assert.Equal(MachineExitReason.DebugExit, outcome.Reason);

        var replayer = new Replayer(Boot(guest, cmdline));
        replayer.Feed(log.Events);
        var result = replayer.Result;

        Assert.Equal(recorded.Cpu.Position, result.Position);
        Assert.Equal(recorded.StateHash(), result.StateHash);
        Assert.Equal(log.Events.OfType<CheckpointEvent>().Count(), result.CheckpointsVerified);
        Assert.True(result.CheckpointsVerified >= 2);
        Assert.Equal(MachineExitReason.DebugExit, result.ExitReason);
        Assert.Equal(outcome.GuestStatus, result.ExitStatus);
        if (clock == ClockMode.Realtime) Assert.Contains(log.Events, e => e is TimeSetEvent);
    }

    [Theory]
    [InlineData(ClockMode.Virtual)]
    [InlineData(ClockMode.Realtime)]
    public void Kvstore_with_input_arriving_at_host_chosen_moments_replays_exactly(ClockMode clock)
    {
        var serial = new ScriptedSerial("c1 1 PUT a 1\nc1 2 INCR a\nc2 1 GET a\nc1 3 STATS\nSHUTDOWN", delayMs: 20);
        var (log, outcome, recorded) = Record("kvstore", clock, serial: serial, limit: 4_000_000_000);
        Assert.Equal(MachineExitReason.DebugExit, outcome.Reason);
        Assert.Contains("c2 1 VALUE 2", serial.Output.ToString());
        Assert.Contains(log.Events, e => e is SerialInputEvent);

        var replay = Boot("kvstore");
        var output = new StringBuilder();
        replay.SerialOutput = b => output.Append((char)b);
        var replayer = new Replayer(replay);
        replayer.Feed(log.Events);

        Assert.Equal(recorded.StateHash(), replayer.Result.StateHash);
        Assert.Equal(serial.Output.ToString(), output.ToString()); // the replay says exactly what the live run said
    }

    [Fact]
    public void Tampered_input_is_caught_after_the_change()
    {
        var serial = new ScriptedSerial("c1 1 PUT a 1\nc1 2 GET a\nSHUTDOWN", delayMs: 5);
        var (log, _, _) = Record("kvstore", ClockMode.Virtual, serial: serial, limit: 4_000_000_000);
        var events = log.Events.ToList();
        int index = events.FindIndex(e => e is SerialInputEvent);
        var original = (SerialInputEvent)events[index];
        var data = (byte[])original.Data.Clone();
        data[0] ^= 0x01; // "c1" becomes "b1"
        events[index] = original with { Data = data };

        var replayer = new Replayer(Boot("kvstore"));
        var e = Assert.Throws<DivergenceException>(() => replayer.Feed(events));
        // Either a checkpoint's hash or the UART's appetite for the next input gives it away.
        Assert.True(e.Message.Contains("state hash differs") || e.Message.Contains("the UART took"), e.Message);
        Assert.True(e.Sequence > original.Sequence);
    }

    [Fact]
    public void A_tampered_clock_sample_is_caught_no_later_than_the_next_checkpoint()
    {
        var (log, _, _) = Record("selftest", ClockMode.Realtime);
        var events = log.Events.ToList();
        // The last sample before a checkpoint: no later sample can overtake the tampered time
        // before the checkpoint hashes the clock's anchor, so the catch does not depend on where
        // the timers of a real-time recording happened to fall (a sample that a later one
        // overtook, with no deadline in between, left no trace: under load that happened).
        int index = -1, nextCheckpoint = -1;
        for (int i = 0, lastSample = -1; i < events.Count && nextCheckpoint < 0; i++)
        {
            if (events[i] is TimeSetEvent && events[i].Position > 0) lastSample = i;
            else if (events[i] is CheckpointEvent && lastSample >= 0) (index, nextCheckpoint) = (lastSample, i);
        }
        Assert.True(index >= 0, "the recording has no clock sample before a checkpoint");
        var original = (TimeSetEvent)events[index];
        // A second ahead: a sample can fall behind the guest's own estimate of time and be
        // clamped to it, and a small shift of such a sample would change nothing at all.
        events[index] = original with { Nanoseconds = original.Nanoseconds + 1_000_000_000 };

        var replayer = new Replayer(Boot("selftest"));
        var e = Assert.Throws<DivergenceException>(() => replayer.Feed(events));
        // An earlier timer changes the path (the guest idles elsewhere) or at least the state.
        Assert.InRange(e.Sequence, original.Sequence + 1, events[nextCheckpoint].Sequence);
    }

    [Fact]
    public void An_idle_realtime_guest_logs_about_one_clock_sample_per_timer_tick()
    {
        // 1.4 s of host time with the guest waiting for input: its 100 Hz timer wakes it ~140 times.
        var serial = new ScriptedSerial("c1 1 GET a\nSHUTDOWN", delayMs: 700);
        var (log, outcome, _) = Record("kvstore", ClockMode.Realtime, serial: serial, limit: 4_000_000_000);
        Assert.Equal(MachineExitReason.DebugExit, outcome.Reason);
        int samples = log.Events.Count(e => e is TimeSetEvent);
        // A waiting loop that spins instead of sleeping logs hundreds of thousands; sleeping to the
        // next timer logs a few per tick.
        Assert.InRange(samples, 20, 3000);
    }

    [Fact]
    public void A_gap_in_the_sequence_is_refused_before_anything_is_applied()
    {
        var (log, _, _) = Record("hello", ClockMode.Realtime);
        var events = log.Events.Where((_, i) => i != 2).ToList();
        var replayer = new Replayer(Boot("hello"));
        var e = Assert.Throws<DivergenceException>(() => replayer.Feed(events));
        Assert.Contains("gap", e.Message);
        Assert.Equal(4UL, e.Sequence);
    }
}
