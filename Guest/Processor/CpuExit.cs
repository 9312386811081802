namespace VmFt.Guest.Processor;

/// <summary>Why <see cref="Cpu.Run"/> returned.</summary>
public enum CpuExit
{
    /// <summary>The position limit given to <see cref="Cpu.Run"/> was reached.</summary>
    PositionReached,
    /// <summary>HLT executed; the CPU stays halted until an interrupt it accepts arrives.</summary>
    Halted,
    /// <summary>A triple fault: the processor shut down. The machine decides (reset or stop).</summary>
    Shutdown,
    /// <summary>Someone called <see cref="Cpu.RequestStop"/> (a device, a debugger).</summary>
    StopRequested,
    /// <summary>A breakpoint or watchpoint of <see cref="Cpu.Traps"/> fired; <see cref="DebugTraps.Hit"/> says which.</summary>
    DebugTrap,
}
