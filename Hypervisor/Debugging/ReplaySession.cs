using Iced.Intel;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// A recording opened for time travel: one machine that can be moved to any position the recording
/// covers, forwards or backwards, stopping at breakpoints and watchpoints on the way. Both the
/// terminal debugger and the gdb stub drive one of these; neither knows how motion is done.
/// <para>
/// The state "at position P" is what the replay reaches after P instructions, with every logged
/// event at positions up to P applied and every interrupt due at P delivered (the CPU is about to
/// run instruction P). It is the same whichever way P was reached: a stop at a breakpoint, a
/// watchpoint or a <see cref="Goto"/>. Going backwards restores the nearest snapshot before the
/// target and replays forwards from it; snapshots are taken on a grid of
/// <see cref="SnapshotOptions.Interval"/> positions as the session moves forwards, and thinned
/// (the interval doubles) when they outgrow their memory budget.
/// </para>
/// Not thread-safe: one caller moves it; cancellation tokens may fire from any thread.
/// </summary>
public sealed class ReplaySession
{
    /// <summary>Instructions per run slice: how often a long motion looks at its cancellation token (about 30 ms).</summary>
    private const ulong SliceInstructions = 5_000_000;

    /// <summary>
    /// Nearby snapshots: a backward move lands by replaying up to a whole grid interval, and the
    /// next one (gdb steps backwards one instruction at a time, many times for one reverse-step)
    /// would replay nearly as much again. So on the way there the session also snapshots the point
    /// of a finer grid (a hundredth of the interval) just below the target: the following steps
    /// back replay at most that much. Only the last few are kept (<see cref="SnapshotCache.NearbyKept"/>).
    /// </summary>
    private const ulong NearbyGridDivisor = 100;

    private readonly PcMachine _machine;
    private readonly RecordingContents _contents;
    private readonly string _path;
    private readonly DebugTraps _userTraps = new() { Suspended = true };
    private readonly SortedSet<ulong> _positionBreakpoints = [];
    private readonly SnapshotCache _snapshots;
    private readonly ReplayCursor _cursor;
    /// <summary>Serial output is passed on only for positions the session has not replayed before.</summary>
    private ulong _outputHighWater;

    /// <summary>Opens a recording file. Bad files throw <see cref="RecordingFormatException"/> with one line naming the file and the offset.</summary>
    public static ReplaySession Open(string path, SnapshotOptions? options = null) =>
        new(RecordingFile.Read(path, allowTruncated: true), path, options);

    public ReplaySession(RecordingContents contents, string path, SnapshotOptions? options = null)
    {
        options ??= new SnapshotOptions();
        ArgumentOutOfRangeException.ThrowIfZero(options.Interval, "options.Interval");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MemoryBudgetBytes, "options.MemoryBudgetBytes");
        _contents = contents;
        _path = path;
        _snapshots = new SnapshotCache(options.Interval, options.MemoryBudgetBytes);
        _machine = RecordedMachine.Build(contents.Header, path);
        _cursor = new ReplayCursor(_machine) { RememberVerified = true };
        _machine.Cpu.Traps = _userTraps;
        _machine.SerialOutput = b =>
        {
            if (_machine.Cpu.Position >= _outputHighWater) SerialOutput?.Invoke(b);
        };
        var events = contents.Events;
        for (int i = 0; i < events.Count; i++)
        {
            if (events[i].Sequence != (ulong)i + 1)
                throw new RecordingFormatException($"{path}: event #{events[i].Sequence} where #{i + 1} was due: the log has a gap or is out of order");
            if (i > 0 && events[i].Position < events[i - 1].Position)
                throw new RecordingFormatException($"{path}: event #{events[i].Sequence} at position {events[i].Position} comes after one at {events[i - 1].Position}");
        }
        EndPosition = events.Count == 0 ? 0 : events[^1].Position;
        AddSnapshot(pinned: true);
        if (options.UseRecordingSnapshots) _snapshots.LoadRecorded(events, path, _machine);
        _snapshots.EnforceBudget();
    }

    public PcMachine Machine => _machine;
    public Cpu Cpu => _machine.Cpu;
    public RecordingHeader Header => _contents.Header;
    public IReadOnlyList<LogEvent> Events => _contents.Events;
    /// <summary>The recording's file name, for messages.</summary>
    public string Path => _path;
    /// <summary>False when the recording was cut short (the session covers what it holds).</summary>
    public bool IsComplete => _contents.IsComplete;
    /// <summary>Instructions retired so far: the current position.</summary>
    public ulong Position => _machine.Cpu.Position;
    /// <summary>The last position the recording covers (its exit, or its last event if it was cut short).</summary>
    public ulong EndPosition { get; }
    /// <summary>Guest serial output (COM1) produced while moving forwards; not repeated when a stretch is replayed again.</summary>
    public Action<byte>? SerialOutput { get; set; }
    /// <summary>Registers or memory were changed by the user: the state has left the recording until the next move restores it.</summary>
    public bool IsModified
    {
        get => !_cursor.Checking;
        private set => _cursor.Checking = !value;
    }

    /// <summary>Index of the first logged event not yet applied to the machine.</summary>
    private int NextEvent => (int)(_cursor.NextSequence - 1);

    // ---- breakpoints and watchpoints ----

    public IReadOnlyCollection<uint> Breakpoints => _userTraps.Breakpoints;
    public bool AddBreakpoint(uint linear) => _userTraps.AddBreakpoint(linear);
    public bool RemoveBreakpoint(uint linear) => _userTraps.RemoveBreakpoint(linear);
    public IReadOnlyCollection<ulong> PositionBreakpoints => _positionBreakpoints;
    public bool AddPositionBreakpoint(ulong position) => _positionBreakpoints.Add(position);
    public bool RemovePositionBreakpoint(ulong position) => _positionBreakpoints.Remove(position);
    public IReadOnlyList<(uint Address, uint Length, WatchKind Kind)> Watchpoints => _userTraps.Watches;

    public bool AddWatchpoint(uint linear, uint length, WatchKind kind)
    {
        if (length == 0 || (ulong)linear + length > 1UL << 32) return false;
        bool added = _userTraps.AddWatch(linear, length, kind);
        if (added) Cpu.TrapsChanged();
        return added;
    }

    public bool RemoveWatchpoint(uint linear, uint length, WatchKind kind)
    {
        bool removed = _userTraps.RemoveWatch(linear, length, kind);
        if (removed) Cpu.TrapsChanged();
        return removed;
    }

    // ---- motion ----

    /// <summary>Moves to exactly <paramref name="position"/> (clamped to the recording), ignoring breakpoints.</summary>
    public StopInfo Goto(ulong position, CancellationToken cancellation = default)
    {
        position = Math.Min(position, EndPosition);
        var best = _snapshots.AtOrBefore(position);
        if (IsModified || position < Position || best.Snapshot.Position > Position)
        {
            Restore(best);
            if (ApproachTakingNearbySnapshot(position, cancellation) is { } interrupted) return interrupted;
        }
        var stop = RunForward(position, _userTraps, useTraps: false, cancellation);
        return stop.Reason == StopReason.Reached && position == EndPosition ? stop with { Reason = StopReason.EndOfRecording } : stop;
    }

    /// <summary>One instruction forwards (an interrupt or exception taken on the way is part of the step, as on hardware).</summary>
    public StopInfo StepInstruction(CancellationToken cancellation = default)
    {
        if (Position >= EndPosition) return new StopInfo(StopReason.EndOfRecording, Position);
        var stop = RunForward(Position + 1, _userTraps, useTraps: true, cancellation);
        // Arriving on a breakpoint is still just a step; a watchpoint the step touched is worth saying.
        return stop.Reason is StopReason.Breakpoint or StopReason.PositionBreakpoint ? new StopInfo(StopReason.Reached, Position) : stop;
    }

    /// <summary>One instruction backwards: to position - 1.</summary>
    public StopInfo ReverseStepInstruction(CancellationToken cancellation = default)
    {
        if (Position == 0) return new StopInfo(StopReason.StartOfRecording, 0);
        var stop = Goto(Position - 1, cancellation);
        if (stop.Reason == StopReason.Interrupted) return stop;
        return Position == 0 ? new StopInfo(StopReason.StartOfRecording, 0) : new StopInfo(StopReason.Reached, Position);
    }

    /// <summary>Forwards until a breakpoint, watchpoint or position breakpoint, the end of the recording or cancellation.</summary>
    public StopInfo Continue(CancellationToken cancellation = default)
    {
        var stop = RunForward(EndPosition, _userTraps, useTraps: true, cancellation);
        return stop.Reason == StopReason.Reached ? stop with { Reason = StopReason.EndOfRecording } : stop;
    }

    /// <summary>Backwards to the latest breakpoint or watchpoint hit before the current position, or position 0.</summary>
    public StopInfo ReverseContinue(CancellationToken cancellation = default)
    {
        if (Position == 0) return new StopInfo(StopReason.StartOfRecording, 0);
        var found = FindLastHit(Position, _userTraps, includePositionBreakpoints: true, accept: null, cancellation);
        if (found.Reason == StopReason.Interrupted) return found;
        if (found.Reason == StopReason.StartOfRecording)
        {
            var start = Goto(0, cancellation);
            return start.Reason == StopReason.Interrupted ? start : new StopInfo(StopReason.StartOfRecording, 0);
        }
        var arrived = Goto(found.Position, cancellation);
        return arrived.Reason == StopReason.Interrupted ? arrived : found;
    }

    /// <summary>
    /// One instruction of the current flow of control: like <see cref="StepInstruction"/>, but an
    /// asynchronous interrupt taken on the way is run through to its return. With
    /// <paramref name="overCalls"/>, a CALL (or INT n) is run through to its return as well ("next").
    /// Breakpoints and watchpoints inside what is run through still stop it.
    /// </summary>
    public StopInfo Step(bool overCalls, CancellationToken cancellation = default)
    {
        if (Position >= EndPosition) return new StopInfo(StopReason.EndOfRecording, Position);
        var instruction = CurrentInstruction();
        uint esp = Cpu.Esp;
        ushort cs = Cpu.GetSelector(SegmentRegister.CS);
        bool runThrough = overCalls && instruction is { } i && IsCallLike(i);
        var stop = StepInstruction(cancellation);
        if (stop.Reason != StopReason.Reached) return stop;

        if (runThrough && CurrentLinearEip != (uint)instruction!.Value.NextIP)
        {
            stop = RunToReturn((uint)instruction.Value.NextIP, cs, esp, exactStack: false, cancellation);
            if (stop.Reason != StopReason.Reached) return stop;
        }
        // An interrupt delivered after the instruction (at the position it brought us to) belongs to another flow.
        var interrupt = _userTraps.LastExternalInterrupt;
        if (interrupt.Position == Position && Position > 0)
            return RunToReturn(interrupt.ReturnLinear, interrupt.ReturnCs, interrupt.EspBefore, exactStack: true, cancellation);
        return stop;
    }

    /// <summary>The mirror of <see cref="Step"/>: back to the previous instruction of the current flow.</summary>
    public StopInfo ReverseStep(bool overCalls, CancellationToken cancellation = default)
    {
        if (Position == 0) return new StopInfo(StopReason.StartOfRecording, 0);
        uint here = CurrentLinearEip;
        ushort cs = Cpu.GetSelector(SegmentRegister.CS);
        uint esp = Cpu.Esp;
        ulong cursor = Position;
        while (true)
        {
            var stop = Goto(cursor - 1, cancellation);
            if (stop.Reason == StopReason.Interrupted) return stop;
            if (CurrentInstruction() is not { } previous) return new StopInfo(StopReason.Reached, Position);
            bool interruptReturn = previous.Mnemonic is Mnemonic.Iret or Mnemonic.Iretd;
            if (interruptReturn)
            {
                // Did this IRET end an asynchronous interrupt taken where we were? Then the flow's
                // previous instruction is the one before that interrupt was delivered (and if that
                // one is again the IRET of an interrupt taken at the same place, before that).
                var search = new DebugTraps { StopOnExternalInterrupt = true };
                var found = FindLastHit(cursor, search, includePositionBreakpoints: false,
                    accept: () => search.LastExternalInterrupt is var r && r.ReturnLinear == here && r.ReturnCs == cs && r.EspBefore == esp,
                    cancellation);
                if (found.Reason == StopReason.Interrupted) return found;
                if (found.Reason != StopReason.StartOfRecording)
                {
                    if (found.Position == 0) return Goto(0, cancellation) with { Reason = StopReason.StartOfRecording };
                    cursor = found.Position;
                    continue;
                }
                Goto(cursor - 1, cancellation);
            }
            if (overCalls && (previous.FlowControl is FlowControl.Return || interruptReturn))
            {
                // The return address this RET (or IRET) pops was written by the CALL (or INT) that
                // began the call: the latest store to that stack slot before here.
                var search = new DebugTraps();
                search.AddWatch(Cpu.Esp + Cpu.GetSegment(SegmentRegister.SS).Base, 4, WatchKind.Write);
                ulong returnPosition = Position;
                var found = FindLastHit(returnPosition, search, includePositionBreakpoints: false, accept: null, cancellation);
                if (found.Reason == StopReason.Interrupted) return found;
                if (found.Reason != StopReason.StartOfRecording && found.Position > 0) return Arrive(found.Position - 1, cancellation);
                return Arrive(returnPosition, cancellation);
            }
            return new StopInfo(StopReason.Reached, Position);
        }
    }

    private StopInfo Arrive(ulong position, CancellationToken cancellation)
    {
        var stop = Goto(position, cancellation);
        return stop.Reason == StopReason.Interrupted ? stop : new StopInfo(StopReason.Reached, Position);
    }

    // ---- state ----

    /// <summary>Reads guest memory at a linear address through the current page tables; false if a page is unmapped.</summary>
    public bool ReadMemory(uint linear, Span<byte> buffer) => Cpu.TryReadLinear(linear, buffer);

    /// <summary>Writes guest memory (the session becomes <see cref="IsModified"/>); false, with nothing written, if a page is unmapped or not RAM.</summary>
    public bool WriteMemory(uint linear, ReadOnlySpan<byte> data)
    {
        var physical = new uint[data.Length];
        for (int i = 0; i < data.Length; i++)
        {
            if (!Cpu.TryTranslateQuietly(linear + (uint)i, out physical[i])) return false;
            if (physical[i] >= Cpu.Memory.RamSize || Cpu.Memory.KindOf(physical[i]) != Guest.Memory.PageKind.Ram) return false;
        }
        for (int i = 0; i < data.Length; i++)
        {
            Cpu.Memory.WriteByte(physical[i], data[i]);
            Cpu.Memory.NotifyWritten(physical[i], 1);
        }
        if (data.Length > 0) MarkModified();
        return true;
    }

    /// <summary>Call after changing registers through <see cref="Cpu"/>: the state no longer matches the recording.</summary>
    public void MarkModified() => IsModified = true;

    /// <summary>Logged events with positions in [from, to].</summary>
    public IEnumerable<LogEvent> EventsBetween(ulong from, ulong to)
    {
        var events = _contents.Events;
        int lo = 0, hi = events.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (events[mid].Position < from) lo = mid + 1;
            else hi = mid;
        }
        for (int i = lo; i < events.Count && events[i].Position <= to; i++) yield return events[i];
    }

    /// <summary>
    /// The external interrupts delivered at positions in [from, to] (at most <paramref name="limit"/>):
    /// they are not in the log, since they follow from it, so the stretch is replayed to see them.
    /// The session comes back to where it was.
    /// </summary>
    public IReadOnlyList<InterruptRecord> InterruptsBetween(ulong from, ulong to, int limit = 1000, CancellationToken cancellation = default)
    {
        var seen = new List<InterruptRecord>();
        if (from > to || from > EndPosition) return seen;
        ulong here = Position;
        bool modified = IsModified;
        if (modified) throw new InvalidOperationException("the state was changed by hand; replaying around it would undo that");
        // Interrupts delivered at `from` happen on the way into it: start just before.
        Goto(from == 0 ? 0 : from - 1, cancellation);
        var watcher = new DebugTraps { InterruptLog = seen };
        try
        {
            RunForward(Math.Min(to, EndPosition), watcher, useTraps: false, cancellation);
        }
        finally
        {
            Goto(here);
        }
        seen.RemoveAll(r => r.Position < from || r.Position > to);
        if (seen.Count > limit) seen.RemoveRange(limit, seen.Count - limit);
        return seen;
    }

    /// <summary>Takes a snapshot at the current position now (the monitor's <c>snapshot</c>); it is kept when snapshots are thinned.</summary>
    public void TakeSnapshot()
    {
        if (IsModified) throw new InvalidOperationException("the state was changed by hand; a snapshot of it would not belong to the recording");
        if (_snapshots.Contains(Position))
        {
            _snapshots.Pin(Position);
            return;
        }
        AddSnapshot(pinned: true);
        _snapshots.EnforceBudget();
    }

    public SnapshotStatistics SnapshotStatistics => _snapshots.Statistics;

    /// <summary>Linear address of the next instruction (CS base + EIP).</summary>
    public uint CurrentLinearEip => Cpu.GetSegment(SegmentRegister.CS).Base + Cpu.Eip;

    /// <summary>The instruction at CS:EIP, decoded with its linear address as IP; null if its bytes are unmapped.</summary>
    public Instruction? CurrentInstruction() => GuestDisassembler.DecodeAt(Cpu, CurrentLinearEip);

    // ---- the forward engine ----

    /// <summary>
    /// Replays forwards to <paramref name="target"/> (at most the end), applying logged events at
    /// their positions, taking grid snapshots, and with <paramref name="useTraps"/> stopping at the
    /// traps of <paramref name="traps"/> and at position breakpoints. Always leaves the machine
    /// settled at its position (events applied, due interrupts delivered).
    /// </summary>
    private StopInfo RunForward(ulong target, DebugTraps traps, bool useTraps, CancellationToken cancellation, bool breakpointsHere = false)
    {
        target = Math.Min(target, EndPosition);
        ulong start = Position;
        var previousTraps = Cpu.Traps;
        if (!ReferenceEquals(previousTraps, traps)) Cpu.Traps = traps;
        traps.Suspended = !useTraps;
        traps.Hit = null;
        // A motion that starts on a breakpoint leaves it; a scan that starts at a snapshot must see it.
        traps.ResumePosition = breakpointsHere ? ulong.MaxValue : start;
        try
        {
            while (true)
            {
                ulong position = Position;
                ApplyEventsAt(position);
                if (!IsModified && position % _snapshots.Interval == 0 && !_snapshots.Contains(position))
                {
                    AddSnapshot(pinned: false);
                    _snapshots.EnforceBudget();
                }
                bool cancelled = cancellation.IsCancellationRequested;
                bool atPositionBreakpoint = useTraps && position != start && _positionBreakpoints.Contains(position);
                ulong segmentEnd = cancelled || atPositionBreakpoint ? position : SegmentEnd(position, target, useTraps);

                var reason = _machine.RunUntil(segmentEnd);
                _outputHighWater = Math.Max(_outputHighWater, Position);
                if (reason == MachineExitReason.DebugTrap) return StopFor(traps.Hit!, traps);
                if (Position != position) continue; // moved on: apply what is due at the new position

                // Nothing ran: settle here (deliver the interrupts due at this position, as the
                // next run would before anything else), then say why the machine stays.
                if (reason is MachineExitReason.PositionReached or MachineExitReason.Idle) Cpu.Run(position);
                if (cancelled) return new StopInfo(StopReason.Interrupted, position);
                if (useTraps && traps.TakeDue(CurrentLinearEip, position) is { } due) return StopFor(due, traps);
                if (atPositionBreakpoint) return new StopInfo(StopReason.PositionBreakpoint, position);
                if (position >= target) return new StopInfo(StopReason.Reached, position);
                string what = reason == MachineExitReason.Idle ? "went idle" : $"stopped ({reason})";
                var events = _contents.Events;
                string next = NextEvent < events.Count ? $"the log's next event (#{events[NextEvent].Sequence}) is at {events[NextEvent].Position}" : "the log has no more events";
                // After the user changed registers or memory, stopping early is the change's doing, not the recording's.
                string cause = IsModified ? " (the state was changed by hand, so the recording no longer applies)" : "";
                throw new DivergenceException($"the guest {what} at position {position}, but {next}{cause}", position, NextEvent < events.Count ? events[NextEvent].Sequence : 0);
            }
        }
        finally
        {
            traps.Suspended = true;
            if (!ReferenceEquals(previousTraps, traps)) Cpu.Traps = previousTraps;
        }
    }

    private StopInfo StopFor(TrapHit hit, DebugTraps traps)
    {
        traps.Hit = null;
        return hit.Kind switch
        {
            TrapKind.Breakpoint => new StopInfo(StopReason.Breakpoint, Position, hit.Address),
            TrapKind.Watchpoint => new StopInfo(StopReason.Watchpoint, Position, hit.Address, hit.Access),
            // Only internal searches stop on interrupts; to them it is a hit like a breakpoint.
            _ => new StopInfo(StopReason.Breakpoint, Position, hit.Address),
        };
    }

    private ulong SegmentEnd(ulong position, ulong target, bool useTraps)
    {
        if (position >= target) return position;
        ulong end = Math.Min(target, position + SliceInstructions);
        if (NextEvent < _contents.Events.Count) end = Math.Min(end, _contents.Events[NextEvent].Position);
        end = Math.Min(end, (position / _snapshots.Interval + 1) * _snapshots.Interval);
        if (useTraps && _positionBreakpoints.Count > 0)
        {
            var later = _positionBreakpoints.GetViewBetween(position + 1, end);
            if (later.Count > 0) end = later.Min;
        }
        return Math.Max(end, position);
    }

    /// <summary>Applies every logged event at <paramref name="position"/> not applied yet, through the replay cursor (checkpoints checked once).</summary>
    private void ApplyEventsAt(ulong position)
    {
        var events = _contents.Events;
        while (NextEvent < events.Count && events[NextEvent].Position <= position) _cursor.Apply(events[NextEvent]);
    }

    /// <summary>
    /// The latest trap hit at a position before <paramref name="before"/>: scans backwards one
    /// snapshot stretch at a time, replaying each stretch forwards and keeping its last hit.
    /// Returns the hit (the machine is left wherever the scan ended), or StartOfRecording if none.
    /// </summary>
    private StopInfo FindLastHit(ulong before, DebugTraps traps, bool includePositionBreakpoints, Func<bool>? accept, CancellationToken cancellation)
    {
        ulong end = before;
        bool first = true;
        while (end > 0)
        {
            var entry = _snapshots.AtOrBefore(end - 1);
            ulong from = entry.Snapshot.Position;
            StopInfo? last = null;
            if (includePositionBreakpoints)
            {
                // A position breakpoint is a hit by itself: no need to replay to know it is there.
                var inStretch = _positionBreakpoints.GetViewBetween(from, first ? end - 1 : end);
                if (inStretch.Count > 0) last = new StopInfo(StopReason.PositionBreakpoint, inStretch.Max);
            }
            Restore(entry);
            // Hits reported exactly at `end` belong here too for older stretches: a watchpoint
            // reported at a snapshot's position was caused by the instruction before it.
            ulong limit = first ? end - 1 : end;
            bool fresh = true;
            while (true)
            {
                var stop = RunForwardScanning(limit, traps, fresh, cancellation);
                fresh = false;
                if (stop.Reason == StopReason.Interrupted) return stop;
                if (stop.Reason is StopReason.Reached or StopReason.EndOfRecording) break;
                if (stop.Position > limit) break;
                if (accept is null || accept())
                    if (last is not { } l || stop.Position >= l.Position) last = stop;
                if (Position >= limit) break;
            }
            if (last is { } hit) return hit;
            end = from;
            first = false;
        }
        return new StopInfo(StopReason.StartOfRecording, 0);
    }

    /// <summary>One leg of a scan: forwards to <paramref name="limit"/> with the given traps, position breakpoints ignored.</summary>
    private StopInfo RunForwardScanning(ulong limit, DebugTraps traps, bool fromSnapshot, CancellationToken cancellation)
    {
        var saved = new ulong[_positionBreakpoints.Count];
        _positionBreakpoints.CopyTo(saved);
        _positionBreakpoints.Clear();
        try
        {
            return RunForward(limit, traps, useTraps: true, cancellation, breakpointsHere: fromSnapshot);
        }
        finally
        {
            foreach (ulong p in saved) _positionBreakpoints.Add(p);
        }
    }

    /// <summary>Forwards with a temporary breakpoint at a return address until it is reached with the stack unwound.</summary>
    private StopInfo RunToReturn(uint linear, ushort cs, uint esp, bool exactStack, CancellationToken cancellation)
    {
        bool added = _userTraps.AddBreakpoint(linear);
        try
        {
            while (true)
            {
                var stop = RunForward(EndPosition, _userTraps, useTraps: true, cancellation);
                if (stop.Reason == StopReason.Reached) return stop with { Reason = StopReason.EndOfRecording };
                if (stop.Reason != StopReason.Breakpoint || stop.Address != linear) return stop;
                bool unwound = Cpu.GetSelector(SegmentRegister.CS) == cs && (exactStack ? Cpu.Esp == esp : Cpu.Esp >= esp);
                if (unwound) return new StopInfo(StopReason.Reached, Position);
                // The same address deeper in the stack (recursion, or the handler interrupted again): on.
                if (!added) return stop; // the user's own breakpoint: it stops here as it always does
            }
        }
        finally
        {
            if (added) _userTraps.RemoveBreakpoint(linear);
        }
    }

    private static bool IsCallLike(Instruction i) =>
        i.FlowControl is FlowControl.Call or FlowControl.IndirectCall || i.Mnemonic is Mnemonic.Int or Mnemonic.Into or Mnemonic.Int3;

    // ---- snapshots ----

    private void Restore(SnapshotEntry entry)
    {
        try
        {
            _machine.RestoreSnapshot(entry.Snapshot);
        }
        catch (MachineStateException e) when (entry.ExpectedHash is not null)
        {
            // A recorded snapshot whose fields a device refuses (its layout was checked on opening):
            // as with a hash that does not match, the session goes the long way instead.
            RefuseRecordedSnapshot(entry, $"the recording's snapshot at position {entry.Snapshot.Position} does not restore: {e.Message}");
        }
        _cursor.MoveTo((ulong)entry.NextEvent + 1);
        IsModified = false;
        if (entry.ExpectedHash is { } expected && !entry.Verified)
        {
            ulong hash = _machine.StateHash();
            if (hash != expected)
                RefuseRecordedSnapshot(entry, $"the recording's snapshot at position {entry.Snapshot.Position} does not restore to its checkpoint's state (log {expected:X16}, restored {hash:X16})");
            entry.Verified = true;
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void RefuseRecordedSnapshot(SnapshotEntry entry, string why)
    {
        ulong position = entry.Snapshot.Position;
        _snapshots.Remove(position);
        Restore(_snapshots.AtOrBefore(position));
        throw new DivergenceException(why, position, 0);
    }

    /// <summary>
    /// After a restore on the way back to <paramref name="target"/>: replays to the point of the
    /// finer grid just below it and snapshots it (see <see cref="NearbyGridDivisor"/>). Null, or
    /// the stop if Ctrl-C came first.
    /// </summary>
    private StopInfo? ApproachTakingNearbySnapshot(ulong target, CancellationToken cancellation)
    {
        ulong fine = _snapshots.Interval / NearbyGridDivisor;
        if (IsModified || fine < 10_000) return null; // below that a replay is quicker than a snapshot
        ulong point = target - target % fine;
        if (point <= Position || point >= target || _snapshots.Contains(point)) return null;
        var stop = RunForward(point, _userTraps, useTraps: false, cancellation);
        if (stop.Reason == StopReason.Interrupted) return stop;
        if (_snapshots.Contains(point)) return null; // on the main grid: already taken
        AddSnapshot(pinned: false);
        _snapshots.KeepNearby(point);
        _snapshots.EnforceBudget();
        return null;
    }

    private void AddSnapshot(bool pinned)
    {
        MachineSnapshot? near = _snapshots.Count == 0 ? null : _snapshots.AtOrBefore(Position).Snapshot;
        _snapshots.Add(new SnapshotEntry(_machine.TakeSnapshot(near), NextEvent, pinned));
    }
}
