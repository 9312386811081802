using VmFt.Guest.Memory;
using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Processor;

/// <summary>A CPU over plain RAM with a bus that records port writes: enough to run small programs.</summary>
internal sealed class CpuTestHarness : ICpuBus
{
    public PhysicalMemory Memory { get; }
    public Cpu Cpu { get; }
    public List<(ushort Port, int Size, uint Value)> PortWrites { get; } = [];
    public ulong Tsc { get; set; } = 1000;
    public byte NextVector { get; set; } = 0x20;
    public List<string> Log { get; } = [];

    public CpuTestHarness(uint ramSize = 4 * 1024 * 1024)
    {
        Memory = new PhysicalMemory(ramSize);
        Cpu = new Cpu(Memory, this) { Log = Log.Add };
    }

    public uint PortRead(ushort port, int size) => size switch { 1 => 0xFF, 2 => 0xFFFF, _ => 0xFFFF_FFFF };
    public void PortWrite(ushort port, int size, uint value) => PortWrites.Add((port, size, value));
    public ulong ReadTimeStampCounter(ulong position)
    {
        if (RaiseLineOnTscRead?.Invoke(position) == true) Cpu.InterruptLine = true;
        return Tsc + position;
    }

    /// <summary>A device that raises INTR during the instruction that reads the TSC, at the positions this picks.</summary>
    public Func<ulong, bool>? RaiseLineOnTscRead { get; set; }
    /// <summary>Drop INTR when the CPU acknowledges it (an edge-like source), so one raise is one interrupt.</summary>
    public bool LowerLineOnAcknowledge { get; set; }

    public byte AcknowledgeInterrupt()
    {
        if (LowerLineOnAcknowledge) Cpu.InterruptLine = false;
        return NextVector;
    }

    /// <summary>Real mode, CS:IP = 0000:<paramref name="origin"/>, code copied there.</summary>
    public void LoadReal(uint origin, params byte[] code)
    {
        Memory.Load(origin, code);
        foreach (var sr in Enum.GetValues<SegmentRegister>()) Cpu.LoadRealModeSegment(sr, 0);
        Cpu.Eip = origin;
        Cpu.Esp = 0x8000;
    }

    /// <summary>Flat 32-bit protected mode at <paramref name="cpl"/>, code copied to <paramref name="origin"/>.</summary>
    public void LoadFlat(uint origin, int cpl, params byte[] code)
    {
        Memory.Load(origin, code);
        Cpu.EnterFlatProtectedMode(cpl);
        Cpu.Eip = origin;
        Cpu.Esp = 0x0009_0000;
    }
}
