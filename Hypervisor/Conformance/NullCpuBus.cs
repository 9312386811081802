using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Conformance;

/// <summary>The bus of the vectors' capture rig: no devices, so every port reads as all ones.</summary>
internal sealed class NullCpuBus : ICpuBus
{
    public uint PortRead(ushort port, int size) => size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };

    public void PortWrite(ushort port, int size, uint value) { }

    public ulong ReadTimeStampCounter(ulong position) => position;

    public byte AcknowledgeInterrupt() => throw new InvalidOperationException("the vectors never raise INTR");
}
