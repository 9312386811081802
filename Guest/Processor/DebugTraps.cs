namespace VmFt.Guest.Processor;

/// <summary>
/// Execution breakpoints and data watchpoints for a debugger, checked by the CPU itself so that a
/// replay runs at full speed between hits. Attach with <see cref="Cpu.Traps"/>; call
/// <see cref="Cpu.TrapsChanged"/> after changing watchpoints (pages holding watched bytes must
/// leave the TLB so that their accesses take the checked path).
/// <para>
/// A hit stops <see cref="Cpu.Run"/> with <see cref="CpuExit.DebugTrap"/> between instructions,
/// after any interrupt due there has been delivered: a breakpoint before the instruction at its
/// address runs, a watchpoint after the instruction that touched the watched bytes (a trap, as the
/// x86 debug registers report data breakpoints). Nothing here is part of the machine state.
/// </para>
/// </summary>
public sealed class DebugTraps
{
    private readonly HashSet<uint> _breakpoints = [];
    private readonly List<(uint Address, uint Length, WatchKind Kind)> _watches = [];

    /// <summary>Breakpoints are not reported at this position: the one a run resumes from.</summary>
    public ulong ResumePosition { get; set; } = ulong.MaxValue;

    /// <summary>Checks nothing while set (a debugger moving to a position without stopping); interrupts are still recorded.</summary>
    public bool Suspended { get; set; }

    /// <summary>Stop right after an external interrupt is delivered (used to find where a flow was interrupted).</summary>
    public bool StopOnExternalInterrupt { get; set; }

    /// <summary>The hit that stopped the CPU; cleared by the caller before resuming.</summary>
    public TrapHit? Hit { get; set; }

    /// <summary>The most recent external interrupt delivered: where, and the flow it interrupted.</summary>
    public InterruptRecord LastExternalInterrupt { get; private set; }

    public IReadOnlyCollection<uint> Breakpoints => _breakpoints;
    public IReadOnlyList<(uint Address, uint Length, WatchKind Kind)> Watches => _watches;

    public bool AddBreakpoint(uint linear) => _breakpoints.Add(linear);
    public bool RemoveBreakpoint(uint linear) => _breakpoints.Remove(linear);

    public bool AddWatch(uint linear, uint length, WatchKind kind)
    {
        if (length == 0 || _watches.Contains((linear, length, kind))) return false;
        _watches.Add((linear, length, kind));
        return true;
    }

    public bool RemoveWatch(uint linear, uint length, WatchKind kind) => _watches.Remove((linear, length, kind));

    /// <summary>
    /// For a caller that stops the CPU by position rather than by trap: the trap due here, if any (a
    /// pending watchpoint or interrupt hit, or a breakpoint on the next instruction), taken off.
    /// </summary>
    public TrapHit? TakeDue(uint nextLinear, ulong position)
    {
        if (Suspended) return null;
        var hit = Hit ?? (IsBreakpoint(nextLinear, position) ? new TrapHit(TrapKind.Breakpoint, nextLinear, WatchKind.Access, position) : null);
        Hit = null;
        return hit is null ? null : hit with { Position = position };
    }

    internal bool HasBreakpoints => _breakpoints.Count > 0 && !Suspended;

    internal bool IsBreakpoint(uint linear, ulong position) => position != ResumePosition && _breakpoints.Contains(linear);

    /// <summary>Some watched byte lies in this linear page: its translations must not be cached.</summary>
    internal bool WatchesPage(uint page)
    {
        foreach (var w in _watches)
        {
            ulong first = w.Address >> 12, last = ((ulong)w.Address + w.Length - 1) >> 12;
            if (page >= first && page <= last) return true;
        }
        return false;
    }

    /// <summary>A data access on the checked path; the first matching watchpoint is remembered as the hit.</summary>
    internal void OnAccess(uint linear, int size, bool write, ulong position)
    {
        if (Hit is not null || Suspended) return;
        foreach (var w in _watches)
        {
            bool kindMatches = w.Kind == WatchKind.Access || (w.Kind == WatchKind.Write) == write;
            if (!kindMatches) continue;
            ulong start = linear, end = (ulong)linear + (uint)size;
            if (start < (ulong)w.Address + w.Length && w.Address < end)
            {
                Hit = new TrapHit(TrapKind.Watchpoint, w.Address, w.Kind, position + 1);
                return;
            }
        }
    }

    /// <summary>When set, every external interrupt delivered is added here (suspended or not).</summary>
    public List<InterruptRecord>? InterruptLog { get; set; }

    internal void OnExternalInterrupt(ulong position, byte vector, uint returnLinear, ushort returnCs, uint espBefore)
    {
        LastExternalInterrupt = new InterruptRecord(position, vector, returnLinear, returnCs, espBefore);
        InterruptLog?.Add(LastExternalInterrupt);
        if (StopOnExternalInterrupt && Hit is null && !Suspended)
            Hit = new TrapHit(TrapKind.ExternalInterrupt, returnLinear, WatchKind.Access, position);
    }
}

/// <summary>What kind of trap stopped the CPU.</summary>
public enum TrapKind
{
    Breakpoint,
    Watchpoint,
    ExternalInterrupt,
}

/// <summary>
/// A trap that fired: the breakpoint or watched address, the kind of watchpoint that fired, and
/// the position at which it is reported (the breakpoint's instruction is about to run there; for a
/// watchpoint, the instruction before it did the access).
/// </summary>
public sealed record TrapHit(TrapKind Kind, uint Address, WatchKind Access, ulong Position);

/// <summary>An external interrupt's delivery: at which position, its vector, and where the interrupted flow resumes (its linear address and CS, with ESP as it was).</summary>
public readonly record struct InterruptRecord(ulong Position, byte Vector, uint ReturnLinear, ushort ReturnCs, uint EspBefore);
