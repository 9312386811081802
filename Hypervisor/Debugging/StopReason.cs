namespace VmFt.Hypervisor.Debugging;

/// <summary>Why a motion of a <see cref="ReplaySession"/> (forwards or backwards) stopped where it did.</summary>
public enum StopReason
{
    /// <summary>The requested step or position was reached.</summary>
    Reached,
    /// <summary>An execution breakpoint: the instruction at the breakpoint's address is about to run.</summary>
    Breakpoint,
    /// <summary>A breakpoint on a position (instruction count) was reached.</summary>
    PositionBreakpoint,
    /// <summary>A watched address was read or written by the instruction just before this position.</summary>
    Watchpoint,
    /// <summary>Going backwards reached position 0: no more history.</summary>
    StartOfRecording,
    /// <summary>Going forwards reached the last position the recording covers.</summary>
    EndOfRecording,
    /// <summary>The caller cancelled the motion (Ctrl-C, gdb's interrupt byte).</summary>
    Interrupted,
}
