namespace VmFt.Guest.Processor;

/// <summary>
/// Everything the CPU reaches outside itself apart from RAM: the machine provides it. This is the
/// CPU's side of the determinism boundary: port I/O, the time-stamp counter and the interrupt
/// acknowledge cycle are the only ways a value from outside the CPU's state gets in.
/// </summary>
public interface ICpuBus
{
    /// <summary>IN: reads 1, 2 or 4 bytes from an I/O port.</summary>
    uint PortRead(ushort port, int size);

    /// <summary>OUT: writes 1, 2 or 4 bytes to an I/O port.</summary>
    void PortWrite(ushort port, int size, uint value);

    /// <summary>RDTSC (and RDMSR of IA32_TIME_STAMP_COUNTER): the counter's value for the instruction at <paramref name="position"/>.</summary>
    ulong ReadTimeStampCounter(ulong position);

    /// <summary>
    /// The interrupt-acknowledge cycle: called when the CPU takes an external interrupt because
    /// <see cref="Cpu.InterruptLine"/> is high and IF is set; returns the vector.
    /// </summary>
    byte AcknowledgeInterrupt();
}
