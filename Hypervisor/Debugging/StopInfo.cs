using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// Where and why a motion stopped. <see cref="Address"/> is the breakpoint's linear address or the
/// watched address that was touched; <see cref="Watch"/> is the kind of the watchpoint that fired.
/// </summary>
public readonly record struct StopInfo(StopReason Reason, ulong Position, uint Address = 0, WatchKind Watch = WatchKind.Write)
{
    public override string ToString() => Reason switch
    {
        StopReason.Breakpoint => $"breakpoint at {Address:X8}, position {Position}",
        StopReason.PositionBreakpoint => $"position breakpoint {Position}",
        StopReason.Watchpoint => $"watchpoint ({Watch.ToString().ToLowerInvariant()}) at {Address:X8}, position {Position}",
        StopReason.StartOfRecording => $"start of the recording, position {Position}",
        StopReason.EndOfRecording => $"end of the recording, position {Position}",
        StopReason.Interrupted => $"interrupted at position {Position}",
        _ => $"position {Position}",
    };
}
