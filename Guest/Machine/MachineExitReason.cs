namespace VmFt.Guest.Machine;

/// <summary>Why <see cref="PcMachine.RunUntil"/> stopped.</summary>
public enum MachineExitReason
{
    /// <summary>The requested position was reached; the guest can go on.</summary>
    PositionReached,
    /// <summary>The CPU is halted waiting for an interrupt, and the next timer deadline lies beyond what the caller allowed (or there is none).</summary>
    Idle,
    /// <summary>The guest wrote to the debug-exit port; <see cref="PcMachine.ExitStatus"/> holds the status.</summary>
    DebugExit,
    /// <summary>Triple fault: the processor shut down.</summary>
    TripleFault,
    /// <summary>HLT with interrupts disabled: nothing can ever wake the guest.</summary>
    DeadHalt,
    /// <summary>The guest asked for a reset (port 0x92 or the 8042).</summary>
    ResetRequested,
    /// <summary>A debugger's breakpoint or watchpoint fired (<see cref="Processor.DebugTraps.Hit"/>); the guest can go on.</summary>
    DebugTrap,
}
