using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// A recording opened for time travel: one machine that can be moved to any position the recording
/// covers, forwards or backwards, stopping at breakpoints and watchpoints on the way. Both the
/// terminal debugger and the gdb stub drive one of these; neither knows how motion is done.
/// <para>
/// The state "at position P" is what the replay reaches after P instructions with every logged
/// event at positions up to P applied; it is the same whichever way P was reached. Going backwards
/// restores the nearest snapshot before the target and replays forwards from it; snapshots are
/// taken along the way as the session moves forwards, within a memory budget.
/// </para>
/// Not thread-safe: one caller moves it; cancellation tokens may fire from any thread.
/// </summary>
public sealed class ReplaySession
{
    /// <summary>Opens a recording file. Bad files throw <see cref="Cli.UsageException"/> with one line naming the file and the offset.</summary>
    public static ReplaySession Open(string path, SnapshotOptions? options = null) => throw new NotImplementedException();

    public ReplaySession(RecordingContents contents, string path, SnapshotOptions? options = null) => throw new NotImplementedException();

    public PcMachine Machine => throw new NotImplementedException();
    public Cpu Cpu => Machine.Cpu;
    public RecordingHeader Header => throw new NotImplementedException();
    public IReadOnlyList<LogEvent> Events => throw new NotImplementedException();
    /// <summary>Instructions retired so far: the current position.</summary>
    public ulong Position => Machine.Cpu.Position;
    /// <summary>The last position the recording covers (its exit, or its last event if it was cut short).</summary>
    public ulong EndPosition => throw new NotImplementedException();
    /// <summary>Guest serial output (COM1) produced while moving forwards; not repeated when a stretch is replayed again.</summary>
    public Action<byte>? SerialOutput { get; set; }
    /// <summary>Registers or memory were changed by the user: the state has left the recording until the next move restores it.</summary>
    public bool IsModified { get; private set; }

    // ---- breakpoints and watchpoints ----
    public IReadOnlyCollection<uint> Breakpoints => throw new NotImplementedException();
    public bool AddBreakpoint(uint linear) => throw new NotImplementedException();
    public bool RemoveBreakpoint(uint linear) => throw new NotImplementedException();
    public IReadOnlyCollection<ulong> PositionBreakpoints => throw new NotImplementedException();
    public bool AddPositionBreakpoint(ulong position) => throw new NotImplementedException();
    public bool RemovePositionBreakpoint(ulong position) => throw new NotImplementedException();
    public IReadOnlyList<(uint Address, uint Length, WatchKind Kind)> Watchpoints => throw new NotImplementedException();
    public bool AddWatchpoint(uint linear, uint length, WatchKind kind) => throw new NotImplementedException();
    public bool RemoveWatchpoint(uint linear, uint length, WatchKind kind) => throw new NotImplementedException();

    // ---- motion ----
    /// <summary>Moves to exactly <paramref name="position"/> (clamped to the recording), ignoring breakpoints.</summary>
    public StopInfo Goto(ulong position, CancellationToken cancellation = default) => throw new NotImplementedException();
    /// <summary>One instruction forwards (an interrupt or exception taken on the way is part of the step, as on hardware).</summary>
    public StopInfo StepInstruction(CancellationToken cancellation = default) => throw new NotImplementedException();
    /// <summary>One instruction backwards: to position - 1.</summary>
    public StopInfo ReverseStepInstruction(CancellationToken cancellation = default) => throw new NotImplementedException();
    /// <summary>Forwards until a breakpoint, watchpoint or position breakpoint, the end of the recording or cancellation.</summary>
    public StopInfo Continue(CancellationToken cancellation = default) => throw new NotImplementedException();
    /// <summary>Backwards to the latest breakpoint or watchpoint hit before the current position, or position 0.</summary>
    public StopInfo ReverseContinue(CancellationToken cancellation = default) => throw new NotImplementedException();
    /// <summary>
    /// One instruction of the current flow of control: like <see cref="StepInstruction"/>, but an
    /// asynchronous interrupt taken on the way is run through to its return. With
    /// <paramref name="overCalls"/>, a CALL (or INT n) is run through to its return as well ("next").
    /// </summary>
    public StopInfo Step(bool overCalls, CancellationToken cancellation = default) => throw new NotImplementedException();
    /// <summary>The mirror of <see cref="Step"/>: back to the previous instruction of the current flow.</summary>
    public StopInfo ReverseStep(bool overCalls, CancellationToken cancellation = default) => throw new NotImplementedException();

    // ---- state ----
    /// <summary>Reads guest memory at a linear address through the current page tables; false if a page is unmapped.</summary>
    public bool ReadMemory(uint linear, Span<byte> buffer) => Cpu.TryReadLinear(linear, buffer);
    /// <summary>Writes guest memory (the session becomes <see cref="IsModified"/>); false if a page is unmapped.</summary>
    public bool WriteMemory(uint linear, ReadOnlySpan<byte> data) => throw new NotImplementedException();
    /// <summary>Call after changing registers through <see cref="Cpu"/>: the state no longer matches the recording.</summary>
    public void MarkModified() => IsModified = true;
    /// <summary>Logged events with positions in [from, to].</summary>
    public IEnumerable<LogEvent> EventsBetween(ulong from, ulong to) => throw new NotImplementedException();
    /// <summary>Takes a snapshot at the current position now (the monitor's <c>snapshot</c>).</summary>
    public void TakeSnapshot() => throw new NotImplementedException();
    public SnapshotStatistics SnapshotStatistics => throw new NotImplementedException();
}
