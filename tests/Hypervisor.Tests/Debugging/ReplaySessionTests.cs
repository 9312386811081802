using System.Text;
using Iced.Intel;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;
using VmFt.Hypervisor.Serial;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging;

/// <summary>
/// Time travel against an independent reference: every state the session reaches, by whatever
/// route, must equal what a plain replay reaches at the same position.
/// </summary>
public class ReplaySessionTests
{
    /// <summary>Lines arriving 20 ms apart, so timer interrupts fall between them.</summary>
    private sealed class ScriptedSerial : QueuedSerialBackend
    {
        public ScriptedSerial(string script)
        {
            var feeder = new Thread(() =>
            {
                foreach (var line in script.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    Thread.Sleep(20);
                    Enqueue(Encoding.ASCII.GetBytes(line + "\n"));
                }
                CloseInput();
            }) { IsBackground = true };
            feeder.Start();
        }

        public override void Write(byte value) { }
        public override void Flush() { }
    }

    private static PcMachine Boot(string guest, string cmdline)
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 16u << 20 });
        machine.LoadMultiboot(BundledImages.Get(guest), guest, new MultibootOptions { CommandLine = cmdline });
        return machine;
    }

    /// <summary>kvstore serving a few requests in realtime mode: serial and timer interrupts at host-chosen positions.</summary>
    private static readonly Lazy<RecordingContents> Kvstore = new(() =>
        Record("kvstore", "", ClockMode.Realtime, new ScriptedSerial("c1 1 PUT a 1\nc1 2 INCR a\nc2 1 GET a\nc1 3 STATS\nSHUTDOWN")));

    /// <summary>The same kind of run with snapshots stored in the recording every 4,000 instructions.</summary>
    private static readonly Lazy<RecordingContents> KvstoreWithSnapshots = new(() =>
        Record("kvstore", "", ClockMode.Realtime, new ScriptedSerial("c1 1 PUT a 1\nc1 2 PUT b 2\nc2 1 GET a\nSHUTDOWN"), snapshotInterval: 4_000));

    private static RecordingContents Record(string guest, string cmdline, ClockMode clock, ISerialBackend? serial = null, ulong snapshotInterval = 0)
    {
        var machine = Boot(guest, cmdline);
        var log = new EventList();
        var snapshots = snapshotInterval == 0 ? null : new RecordingSnapshotter(machine, snapshotInterval);
        new LiveRunner(machine, clock, serial, log) { CheckpointInterval = 5_000, SliceInstructions = 2_000, Snapshots = snapshots }.Run(4_000_000_000);
        var image = BundledImages.Get(guest);
        var header = RecordedMachine.HeaderFor(machine, clock, guest, image, cmdline, embedImage: true);
        return new RecordingContents(header with { RamSize = 16u << 20 }, log.Events, null);
    }

    private static ReplaySession Open(RecordingContents contents, SnapshotOptions? options = null) =>
        new(contents, "test.vmrec", options ?? new SnapshotOptions { Interval = 3_000 });

    /// <summary>The reference: a plain replay of the events up to P, then the interrupts due at P delivered.</summary>
    private static PcMachine ReferenceAt(RecordingContents contents, ulong position)
    {
        var machine = RecordedMachine.Build(contents.Header, "test.vmrec");
        var replayer = new Replayer(machine);
        replayer.Feed(contents.Events.Where(e => e.Position <= position));
        machine.RunUntil(position);
        Assert.Equal(position, machine.Cpu.Position);
        machine.Cpu.Run(position);
        return machine;
    }

    [Theory]
    // Found by the recording fuzz target: PhysicalMemory's ArgumentOutOfRangeException came through.
    [InlineData((16u << 20) + 1, 10, "the recording's RAM size 16777217 is not one this machine supports (1 MiB to 3 GiB, in whole 4 KiB pages)")]
    // The timers divide by it: the replay would have died with DivideByZeroException.
    [InlineData(16u << 20, 0, "the recording's clock has 0 ns per instruction: guest time could never advance")]
    public void A_header_describing_a_machine_this_build_cannot_make_is_refused_with_one_line(uint ram, ulong nsPerInstruction, string reason)
    {
        var contents = Kvstore.Value;
        var header = contents.Header with { RamSize = ram, NanosecondsPerInstruction = nsPerInstruction };
        var e = Assert.Throws<RecordingFormatException>(() => Open(new RecordingContents(header, contents.Events, null)));
        Assert.Equal($"test.vmrec: {reason}", e.Message);
    }

    [Fact]
    public void A_recorded_snapshot_of_a_device_at_another_state_version_is_refused_on_opening_with_one_line()
    {
        var contents = KvstoreWithSnapshots.Value;
        var first = contents.Events.OfType<SnapshotStateEvent>().First();
        // Set the PIT's state version byte in the device container (tag length 3, "pit", version).
        var devices = (byte[])first.DeviceState.Clone();
        int pit = devices.AsSpan().IndexOf("\u0003pit"u8);
        Assert.True(pit > 0);
        devices[pit + 4] = 9;
        var events = contents.Events.Select(e => ReferenceEquals(e, first) ? first with { DeviceState = devices } : e).ToList();
        var tampered = new RecordingContents(contents.Header, events, null);

        var e = Assert.Throws<RecordingFormatException>(() => Open(tampered));
        Assert.Equal($"test.vmrec: the recording's snapshot at position {first.Position} (event #{first.Sequence}): device state: device 'pit' has state version 9; this build reads version 1", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Goto_reaches_the_reference_state_in_any_order()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        ulong end = session.EndPosition;
        Assert.True(end > 20_000, $"recording too short: {end}");
        var random = new Random(7);
        var positions = new List<ulong> { end, 0, end / 2, end / 2 + 1, end / 2 - 1, 1 };
        for (int i = 0; i < 6; i++) positions.Add((ulong)random.NextInt64(0, (long)end + 1));
        // Positions where events land are the interesting ones: the state must include them.
        positions.AddRange(contents.Events.OfType<SerialInputEvent>().Take(3).Select(e => e.Position));
        foreach (ulong p in positions)
        {
            session.Goto(p);
            Assert.Equal(p, session.Position);
            Assert.Equal(ReferenceAt(contents, p).StateHash(), session.Machine.StateHash());
        }
    }

    [Fact]
    public void Reverse_stepi_undoes_stepi_exactly()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        session.Goto(session.EndPosition / 3);
        var hashes = new List<ulong> { session.Machine.StateHash() };
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(StopReason.Reached, session.StepInstruction().Reason);
            hashes.Add(session.Machine.StateHash());
        }
        for (int i = 39; i >= 0; i--)
        {
            Assert.Equal(StopReason.Reached, session.ReverseStepInstruction().Reason);
            Assert.Equal(hashes[i], session.Machine.StateHash());
        }
    }

    [Fact]
    public void Steps_back_in_a_row_use_a_nearby_snapshot_and_reach_the_reference_states()
    {
        // cpubench, 1.3 million instructions; a grid of 1,000,000, so nearby snapshots fall on a grid of 10,000.
        var contents = Record("cpubench", "iterations=30", ClockMode.Virtual);
        var session = Open(contents, new SnapshotOptions { Interval = 1_000_000 });
        ulong end = session.EndPosition;
        Assert.True(end > 1_000_000, $"recording too short: {end}");
        ulong target = end / 2 - end / 2 % 10_000 + 5; // five instructions above a nearby point
        session.Goto(end);
        int before = session.SnapshotStatistics.Count;
        session.Goto(target);
        Assert.Equal(before + 1, session.SnapshotStatistics.Count); // the nearby one, below the target
        for (ulong k = 1; k <= 12; k++) // across the nearby point and below it
        {
            Assert.Equal(StopReason.Reached, session.ReverseStepInstruction().Reason);
            Assert.Equal(target - k, session.Position);
            if (k is 1 or 5 or 6 or 12) Assert.Equal(ReferenceAt(contents, target - k).StateHash(), session.Machine.StateHash());
        }
        // Landing far away again and again keeps only the last few nearby snapshots.
        for (int i = 1; i <= 12; i++)
        {
            session.Goto(end);
            ulong p = end * (ulong)i / 13 + 7;
            session.Goto(p);
            Assert.Equal(p, session.Position);
        }
        Assert.InRange(session.SnapshotStatistics.Count, before + 1, before + 8);
        Assert.Equal(ReferenceAt(contents, session.Position).StateHash(), session.Machine.StateHash());
    }

    [Fact]
    public void Breakpoints_stop_forwards_and_backwards_on_every_hit_in_order()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        // Where the guest is halfway through: an instruction of its main loop, run many times.
        session.Goto(session.EndPosition / 2);
        uint address = session.CurrentLinearEip;

        session.Goto(0);
        Assert.True(session.AddBreakpoint(address));
        var hits = new List<ulong>();
        while (true)
        {
            var stop = session.Continue();
            if (stop.Reason != StopReason.Breakpoint) break;
            Assert.Equal(address, session.CurrentLinearEip);
            Assert.Equal(address, stop.Address);
            hits.Add(stop.Position);
        }
        Assert.True(hits.Count >= 2, $"{hits.Count} hits");
        // Every hit is there in a plain replay, checked where a hash is cheap enough: a sample.
        foreach (ulong h in new[] { hits[0], hits[hits.Count / 2], hits[^1] })
            Assert.Equal(address, ReferenceAt(contents, h).Cpu.GetSegment(SegmentRegister.CS).Base + ReferenceAt(contents, h).Cpu.Eip);
        Assert.Equal(hits.Order(), hits);
        Assert.Equal(hits.Distinct(), hits);

        // Backwards from the end visits the same hits in reverse (the last few, checked against the
        // reference), and from just after the first hit, that one and then the start.
        for (int i = hits.Count - 1; i >= Math.Max(0, hits.Count - 4); i--)
        {
            var stop = session.ReverseContinue();
            Assert.Equal(StopReason.Breakpoint, stop.Reason);
            Assert.Equal(hits[i], stop.Position);
            Assert.Equal(hits[i], session.Position);
            Assert.Equal(ReferenceAt(contents, hits[i]).StateHash(), session.Machine.StateHash());
        }
        session.Goto(hits[0] + 1);
        Assert.Equal(hits[0], session.ReverseContinue().Position);
        Assert.Equal(StopReason.StartOfRecording, session.ReverseContinue().Reason);
        Assert.Equal(0UL, session.Position);
    }

    [Fact]
    public void A_write_watchpoint_stops_after_the_store_and_reverse_continue_finds_the_one_before()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        // Find a CALL: it stores its return address, so the stack slot below ESP is written.
        session.Goto(session.EndPosition / 2);
        while (session.CurrentInstruction() is not { FlowControl: FlowControl.Call }) Assert.Equal(StopReason.Reached, session.StepInstruction().Reason);
        ulong call = session.Position;
        uint slot = session.Cpu.Esp - 4 + session.Cpu.GetSegment(SegmentRegister.SS).Base;
        Assert.True(session.AddWatchpoint(slot, 4, WatchKind.Write));

        var stop = session.Continue();
        Assert.Equal(StopReason.Watchpoint, stop.Reason);
        Assert.Equal(call + 1, stop.Position);
        Assert.Equal(slot, stop.Address);

        var previous = session.ReverseContinue();
        Assert.Equal(StopReason.Watchpoint, previous.Reason);
        Assert.True(previous.Position <= call, $"{previous.Position} vs call at {call}");
        // Nothing writes the slot in between: forwards from the earlier hit, the next hit is the CALL's.
        Assert.Equal(call + 1, session.Continue().Position);
        // And the reverse hit is a real store: the instruction before it wrote the slot.
        session.Goto(previous.Position - 1);
        var before = new byte[4];
        session.ReadMemory(slot, before);
        session.StepInstruction();
        var after = new byte[4];
        session.ReadMemory(slot, after);
        var reference = ReferenceAt(contents, previous.Position);
        var referenceBytes = new byte[4];
        reference.Cpu.TryReadLinear(slot, referenceBytes);
        Assert.Equal(referenceBytes, after);
    }

    [Fact]
    public void Next_runs_a_call_through_and_reverse_next_comes_back_to_it()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        session.Goto(session.EndPosition / 2);
        ulong callPosition;
        Instruction callInstruction;
        uint esp;
        StopInfo stop;
        int tries = 0;
        do
        {
            // Some calls never return (into the user program, say): step into those and try the next.
            while (session.CurrentInstruction() is not { FlowControl: FlowControl.Call }) Assert.Equal(StopReason.Reached, session.StepInstruction().Reason);
            callPosition = session.Position;
            callInstruction = session.CurrentInstruction()!.Value;
            esp = session.Cpu.Esp;
            stop = session.Step(overCalls: true);
            if (stop.Reason == StopReason.EndOfRecording)
            {
                session.Goto(callPosition);
                session.StepInstruction();
            }
        } while (stop.Reason == StopReason.EndOfRecording && ++tries < 20);
        Assert.Equal(StopReason.Reached, stop.Reason);
        Assert.Equal((uint)callInstruction.NextIP, session.CurrentLinearEip);
        Assert.Equal(esp, session.Cpu.Esp);
        Assert.True(session.Position > callPosition + 1);

        var back = session.ReverseStep(overCalls: true);
        Assert.Equal(StopReason.Reached, back.Reason);
        Assert.Equal(callPosition, session.Position);
    }

    [Fact]
    public void Step_runs_an_interrupt_taken_on_the_way_through_to_its_return()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        // Position just before an interrupt is taken: step from there stays in the interrupted flow.
        ulong input = contents.Events.OfType<SerialInputEvent>().First(e => e.Position > 0).Position;
        session.Goto(input - 1);
        uint before = session.CurrentLinearEip;
        var stepi = session.StepInstruction();
        Assert.Equal(StopReason.Reached, stepi.Reason);
        bool interrupted = session.Cpu.Cpl == 0 && session.CurrentLinearEip != before;
        session.Goto(input - 1);
        var step = session.Step(overCalls: false);
        Assert.True(StopReason.Reached == step.Reason, $"{step} input {input} before {before:X} interrupted {interrupted} traps {session.Cpu.Traps?.LastExternalInterrupt}");
        if (interrupted)
        {
            // The plain stepi ended in a handler; step ended back in the flow it started in.
            Assert.True(session.Position >= input);
        }
        var reverse = session.ReverseStep(overCalls: false);
        Assert.Equal(StopReason.Reached, reverse.Reason);
        Assert.Equal(input - 1, session.Position);
    }

    [Fact]
    public void A_cancelled_motion_stops_where_it_is()
    {
        var session = Open(Kvstore.Value);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        session.Goto(1000);
        var stop = session.Continue(cancelled.Token);
        Assert.Equal(StopReason.Interrupted, stop.Reason);
        Assert.Equal(1000UL, session.Position);
    }

    [Fact]
    public void Snapshots_stay_within_their_budget_by_thinning()
    {
        var contents = Kvstore.Value;
        long budget = (16L << 20) + 200_000;
        var session = Open(contents, new SnapshotOptions { Interval = 500, MemoryBudgetBytes = budget });
        session.Goto(session.EndPosition);
        var stats = session.SnapshotStatistics;
        Assert.True(stats.Interval > 500, $"interval {stats.Interval}");
        Assert.True(stats.Bytes <= budget, $"{stats.Bytes} bytes");
        Assert.True(stats.Count > 2, $"{stats.Count} snapshots");
        // Thinned or not, moving back still lands on the reference state.
        session.Goto(session.EndPosition / 2 + 12345);
        Assert.Equal(ReferenceAt(contents, session.EndPosition / 2 + 12345).StateHash(), session.Machine.StateHash());
    }

    [Fact]
    public void Memory_written_by_hand_is_undone_by_the_next_move()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        session.Goto(session.EndPosition / 2);
        ulong hash = session.Machine.StateHash();
        uint esp = session.Cpu.Esp;
        Assert.True(session.WriteMemory(esp, [1, 2, 3, 4]));
        Assert.True(session.IsModified);
        Assert.NotEqual(hash, session.Machine.StateHash());
        session.Goto(session.EndPosition / 2);
        Assert.False(session.IsModified);
        Assert.Equal(hash, session.Machine.StateHash());
    }

    [Fact]
    public void Position_breakpoints_stop_both_ways()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        ulong a = session.EndPosition / 3, b = session.EndPosition * 2 / 3;
        session.AddPositionBreakpoint(a);
        session.AddPositionBreakpoint(b);
        Assert.Equal(new StopInfo(StopReason.PositionBreakpoint, a), session.Continue());
        Assert.Equal(new StopInfo(StopReason.PositionBreakpoint, b), session.Continue());
        Assert.Equal(new StopInfo(StopReason.PositionBreakpoint, a), session.ReverseContinue());
        Assert.Equal(ReferenceAt(contents, a).StateHash(), session.Machine.StateHash());
    }

    [Fact]
    public void A_recordings_own_snapshots_are_used_and_reach_the_reference_states()
    {
        var contents = KvstoreWithSnapshots.Value;
        var stored = contents.Events.OfType<SnapshotStateEvent>().ToList();
        Assert.True(stored.Count >= 3, $"{stored.Count} snapshots stored");
        Assert.Contains(contents.Events, e => e is SnapshotPagesEvent);
        // A grid far coarser than the recording: every snapshot the session has beyond 0 came from the file.
        var session = Open(contents, new SnapshotOptions { Interval = 1UL << 40 });
        Assert.Equal(stored.Count + 1, session.SnapshotStatistics.Count);
        foreach (ulong p in new[] { session.EndPosition, stored[^1].Position, stored[1].Position + 17, stored[0].Position - 1 })
        {
            session.Goto(p);
            Assert.Equal(ReferenceAt(contents, p).StateHash(), session.Machine.StateHash());
        }
        // And the plain replayer checks each stored snapshot's CPU and device state on the way.
        var replayer = new Replayer(RecordedMachine.Build(contents.Header, "test.vmrec"));
        replayer.Feed(contents.Events);
    }

    [Fact]
    public void A_tampered_snapshot_page_is_caught_when_restored()
    {
        var contents = KvstoreWithSnapshots.Value;
        var events = contents.Events.ToList();
        int index = events.FindLastIndex(e => e is SnapshotPagesEvent);
        var original = (SnapshotPagesEvent)events[index];
        var pages = SnapshotPageCodec.Decode(original).ToArray();
        pages[100] ^= 0x55;
        events[index] = original with { Encoding = SnapshotPageEncoding.Raw, Data = pages };
        var session = Open(new RecordingContents(contents.Header, events, null), new SnapshotOptions { Interval = 1UL << 40 });
        var e = Assert.Throws<DivergenceException>(() => session.Goto(session.EndPosition));
        Assert.Contains($"snapshot at position {original.Position}", e.Message);
        // The bad snapshot is gone; the session still gets there the long way.
        session.Goto(session.EndPosition);
        Assert.Equal(ReferenceAt(contents, session.EndPosition).StateHash(), session.Machine.StateHash());
    }

    [Fact]
    public void Undecodable_snapshot_pages_are_refused_at_open_with_one_line()
    {
        var contents = KvstoreWithSnapshots.Value;
        var events = contents.Events.ToList();
        int index = events.FindIndex(e => e is SnapshotPagesEvent);
        var original = (SnapshotPagesEvent)events[index];
        events[index] = original with { Encoding = SnapshotPageEncoding.Deflate, Data = [1, 2, 3] };
        var e = Assert.Throws<RecordingFormatException>(() => Open(new RecordingContents(contents.Header, events, null)));
        Assert.Contains($"event #{original.Sequence}", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void The_interrupts_a_stretch_took_are_listed_and_the_session_stays_put()
    {
        var contents = Kvstore.Value;
        var session = Open(contents);
        session.Goto(session.EndPosition / 2);
        ulong here = session.Position;
        ulong hash = session.Machine.StateHash();
        // kvstore puts the master PIC at vector 0x20: the timer is 0x20, COM1 (IRQ 4) is 0x24.
        var inputs = contents.Events.OfType<SerialInputEvent>().Where(e => e.Position > 0).Select(e => e.Position).Distinct().Order().ToList();
        var taken = session.InterruptsBetween(0, session.EndPosition, limit: int.MaxValue);
        Assert.Equal(here, session.Position);
        Assert.Equal(hash, session.Machine.StateHash());
        Assert.Contains(taken, r => r.Vector == 0x20);
        // Every arrival of input raised the UART's interrupt, taken before the next input arrived
        // (at once, unless the guest had interrupts masked at that moment).
        for (int i = 0; i < inputs.Count; i++)
        {
            ulong next = i + 1 < inputs.Count ? inputs[i + 1] : ulong.MaxValue;
            Assert.Contains(taken, r => r.Vector == 0x24 && r.Position >= inputs[i] && r.Position < next);
        }
        Assert.True(taken.Count(r => r.Vector == 0x24 && inputs.Contains(r.Position)) > inputs.Count / 2);
        Assert.Equal(taken.OrderBy(r => r.Position).Select(r => r.Position), taken.Select(r => r.Position));
        // A narrower window gives the same records, cut to it.
        ulong from = taken[taken.Count / 2].Position, to = from + 5_000;
        Assert.Equal(taken.Where(r => r.Position >= from && r.Position <= to), session.InterruptsBetween(from, to, limit: int.MaxValue));
    }
}
