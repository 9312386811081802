using Iced.Intel;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Recording;
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
    /// back replay at most that much. Only the last few are kept.
    /// </summary>
    private const int NearbySnapshotsKept = 8;
    private readonly Queue<ulong> _nearby = new();

    private readonly PcMachine _machine;
    private readonly RecordingContents _contents;
    private readonly string _path;
    private readonly DebugTraps _userTraps = new() { Suspended = true };
    private readonly SortedSet<ulong> _positionBreakpoints = [];
    private readonly SortedList<ulong, SnapshotEntry> _snapshots = [];
    private readonly Dictionary<byte[], int> _pageReferences = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<ulong> _verifiedCheckpoints = [];
    private readonly long _budget;
    private long _snapshotBytes;
    private ulong _interval;
    /// <summary>Index of the first logged event not yet applied to the machine.</summary>
    private int _nextEvent;
    /// <summary>Serial output is passed on only for positions the session has not replayed before.</summary>
    private ulong _outputHighWater;

    /// <summary>A snapshot and the index of the first event not applied in it; one from the recording carries the hash it must show.</summary>
    private sealed record SnapshotEntry(MachineSnapshot Snapshot, int NextEvent, bool Pinned, ulong? ExpectedHash = null)
    {
        public bool Verified { get; set; }
    }

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
        _interval = options.Interval;
        _budget = options.MemoryBudgetBytes;
        _machine = RecordedMachine.Build(contents.Header, path);
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
        if (options.UseRecordingSnapshots) LoadRecordedSnapshots();
        EnforceBudget();
    }

    /// <summary>
    /// The recording's own snapshots (if it has any) become snapshots of the session, so that moving
    /// far forwards starts near the target. Each carries only the pages changed since the one
    /// before, so they are rebuilt in order, sharing unchanged pages; each is verified against the
    /// checkpoint recorded with it the first time it is restored.
    /// </summary>
    private void LoadRecordedSnapshots()
    {
        var events = _contents.Events;
        var pages = _snapshots.Values[0].Snapshot.Pages.ToArray();
        for (int i = 0; i < events.Count; i++)
        {
            if (events[i] is not SnapshotStateEvent state) continue;
            string where = $"{_path}: the recording's snapshot at position {state.Position} (event #{state.Sequence})";
            if (state.RamPages != pages.Length)
                throw new RecordingFormatException($"{where} has {state.RamPages} RAM pages; the machine has {pages.Length}");
            ulong? expected = i > 0 && events[i - 1] is CheckpointEvent c && c.Position == state.Position ? c.StateHash : null;
            var current = (byte[][])pages.Clone();
            int fresh = 0, next = i + 1;
            for (; next < events.Count && events[next] is SnapshotPagesEvent run && run.Position == state.Position; next++)
            {
                if ((ulong)run.FirstPage + run.PageCount > (ulong)pages.Length)
                    throw new RecordingFormatException($"{where}: pages {run.FirstPage}+{run.PageCount} (event #{run.Sequence}) lie outside RAM");
                byte[] data;
                try
                {
                    data = SnapshotPageCodec.Decode(run);
                }
                catch (InvalidDataException e)
                {
                    throw new RecordingFormatException($"{where}: event #{run.Sequence}: {e.Message}");
                }
                for (int k = 0; k < run.PageCount; k++)
                    current[run.FirstPage + k] = data.AsSpan(k * MachineSnapshot.PageSize, MachineSnapshot.PageSize).ToArray();
                fresh += (int)run.PageCount;
            }
            pages = current;
            if (!_snapshots.ContainsKey(state.Position))
                AddEntry(new SnapshotEntry(MachineSnapshot.FromParts(state.Position, state.CpuState, state.DeviceState, current, fresh), next, Pinned: false, expected));
            i = next - 1;
        }
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
    public bool IsModified { get; private set; }

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
        var best = SnapshotAtOrBefore(position);
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
        if (_snapshots.TryGetValue(Position, out var existing))
        {
            if (!existing.Pinned) _snapshots[Position] = existing with { Pinned = true };
            return;
        }
        AddSnapshot(pinned: true);
        EnforceBudget();
    }

    public SnapshotStatistics SnapshotStatistics => new(_snapshots.Count, _snapshotBytes, _budget, _interval);

    /// <summary>Linear address of the next instruction (CS base + EIP).</summary>
    public uint CurrentLinearEip => Cpu.GetSegment(SegmentRegister.CS).Base + Cpu.Eip;

    /// <summary>The instruction at CS:EIP, decoded with its linear address as IP; null if its bytes are unmapped.</summary>
    public Instruction? CurrentInstruction()
    {
        uint linear = CurrentLinearEip;
        Span<byte> bytes = stackalloc byte[15];
        int n = bytes.Length;
        while (n > 0 && !Cpu.TryReadLinear(linear, bytes[..n])) n--;
        if (n == 0) return null;
        var decoder = Decoder.Create(Cpu.GetSegment(SegmentRegister.CS).Big ? 32 : 16, bytes[..n].ToArray());
        decoder.IP = linear;
        decoder.Decode(out var instruction);
        return instruction.IsInvalid ? null : instruction;
    }

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
                if (!IsModified && position % _interval == 0 && !_snapshots.ContainsKey(position))
                {
                    AddSnapshot(pinned: false);
                    EnforceBudget();
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
                string next = _nextEvent < events.Count ? $"the log's next event (#{events[_nextEvent].Sequence}) is at {events[_nextEvent].Position}" : "the log has no more events";
                throw new DivergenceException($"the guest {what} at position {position}, but {next}", position, _nextEvent < events.Count ? events[_nextEvent].Sequence : 0);
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
        if (_nextEvent < _contents.Events.Count) end = Math.Min(end, _contents.Events[_nextEvent].Position);
        end = Math.Min(end, (position / _interval + 1) * _interval);
        if (useTraps && _positionBreakpoints.Count > 0)
        {
            var later = _positionBreakpoints.GetViewBetween(position + 1, end);
            if (later.Count > 0) end = later.Min;
        }
        return Math.Max(end, position);
    }

    /// <summary>Applies every logged event at <paramref name="position"/> not applied yet, checking checkpoints.</summary>
    private void ApplyEventsAt(ulong position)
    {
        var events = _contents.Events;
        while (_nextEvent < events.Count)
        {
            var e = events[_nextEvent];
            if (e.Position > position) return;
            if (e.Position < position)
                throw new DivergenceException($"event #{e.Sequence} is at position {e.Position}, but the replay is already at {position}", e.Position, e.Sequence);
            switch (e)
            {
                case CheckpointEvent c when !IsModified && !_verifiedCheckpoints.Contains(c.Sequence):
                    ulong hash = _machine.StateHash();
                    if (hash != c.StateHash)
                        throw new DivergenceException($"state hash differs at checkpoint #{c.Sequence}, position {c.Position}: log {c.StateHash:X16}, replay {hash:X16}", c.Position, c.Sequence);
                    _verifiedCheckpoints.Add(c.Sequence);
                    break;
                case CheckpointEvent or GuestExitEvent:
                    break;
                default:
                    EventApplier.Apply(_machine, e);
                    break;
            }
            _nextEvent++;
        }
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
            var entry = SnapshotAtOrBefore(end - 1);
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

    private SnapshotEntry SnapshotAtOrBefore(ulong position)
    {
        var keys = _snapshots.Keys;
        int lo = 0, hi = keys.Count - 1, found = 0;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (keys[mid] <= position)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return _snapshots.Values[found];
    }

    private void Restore(SnapshotEntry entry)
    {
        _machine.RestoreSnapshot(entry.Snapshot);
        _nextEvent = entry.NextEvent;
        IsModified = false;
        if (entry.ExpectedHash is { } expected && !entry.Verified)
        {
            ulong hash = _machine.StateHash();
            if (hash != expected)
            {
                ulong position = entry.Snapshot.Position;
                RemoveSnapshot(position);
                Restore(SnapshotAtOrBefore(position));
                throw new DivergenceException($"the recording's snapshot at position {position} does not restore to its checkpoint's state (log {expected:X16}, restored {hash:X16})", position, 0);
            }
            entry.Verified = true;
        }
    }

    /// <summary>
    /// After a restore on the way back to <paramref name="target"/>: replays to the point of the
    /// finer grid just below it and snapshots it (see <see cref="NearbySnapshotsKept"/>). Null, or
    /// the stop if Ctrl-C came first.
    /// </summary>
    private StopInfo? ApproachTakingNearbySnapshot(ulong target, CancellationToken cancellation)
    {
        ulong fine = _interval / 100;
        if (IsModified || fine < 10_000) return null; // below that a replay is quicker than a snapshot
        ulong point = target - target % fine;
        if (point <= Position || point >= target || _snapshots.ContainsKey(point)) return null;
        var stop = RunForward(point, _userTraps, useTraps: false, cancellation);
        if (stop.Reason == StopReason.Interrupted) return stop;
        if (_snapshots.ContainsKey(point)) return null; // on the main grid: already taken
        AddSnapshot(pinned: false);
        _nearby.Enqueue(point);
        while (_nearby.Count > NearbySnapshotsKept)
        {
            ulong old = _nearby.Dequeue();
            if (_snapshots.TryGetValue(old, out var entry) && !entry.Pinned && old % _interval != 0) RemoveSnapshot(old);
        }
        EnforceBudget();
        return null;
    }

    private void AddSnapshot(bool pinned)
    {
        MachineSnapshot? near = _snapshots.Count == 0 ? null : SnapshotAtOrBefore(Position).Snapshot;
        AddEntry(new SnapshotEntry(_machine.TakeSnapshot(near), _nextEvent, pinned));
    }

    private void AddEntry(SnapshotEntry entry)
    {
        var snapshot = entry.Snapshot;
        foreach (var page in snapshot.Pages)
        {
            _pageReferences.TryGetValue(page, out int count);
            if (count == 0) _snapshotBytes += page.Length;
            _pageReferences[page] = count + 1;
        }
        _snapshotBytes += snapshot.FixedBytes;
        _snapshots[snapshot.Position] = entry;
    }

    private void RemoveSnapshot(ulong position)
    {
        var snapshot = _snapshots[position].Snapshot;
        _snapshots.Remove(position);
        _snapshotBytes -= snapshot.FixedBytes;
        foreach (var page in snapshot.Pages)
        {
            int count = _pageReferences[page] - 1;
            if (count == 0)
            {
                _pageReferences.Remove(page);
                _snapshotBytes -= page.Length;
            }
            else _pageReferences[page] = count;
        }
    }

    /// <summary>Over budget: double the grid interval and drop the automatic snapshots that fall off it, until it fits.</summary>
    private void EnforceBudget()
    {
        while (_snapshotBytes > _budget)
        {
            var removable = _snapshots.Where(s => !s.Value.Pinned).Select(s => s.Key).ToList();
            if (removable.Count == 0) return;
            if (_interval > ulong.MaxValue / 2) return;
            _interval *= 2;
            foreach (ulong p in removable)
                if (p % _interval != 0) RemoveSnapshot(p);
        }
    }
}
