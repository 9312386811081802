using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Memory;
using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Loaders;

/// <summary>What the machine does with a loader's answer: the CPU ends up in exactly that state.</summary>
public class BootStateTests
{
    private sealed class NullBus : ICpuBus
    {
        public uint PortRead(ushort port, int size) => 0xFFFF_FFFF;
        public void PortWrite(ushort port, int size, uint value) { }
        public ulong ReadTimeStampCounter(ulong position) => position;
        public byte AcknowledgeInterrupt() => 0x08;
    }

    [Fact]
    public void MultibootStateIsFlatRingZeroWithMagicAndInfo()
    {
        var memory = new PhysicalMemory(16u << 20);
        var boot = MultibootLoader.Load(memory, BundledImages.Get("hello"), "hello.elf");
        var cpu = new Cpu(memory, new NullBus());
        cpu.Eax = 0x1234;
        boot.State.ApplyTo(cpu);

        Assert.True(cpu.ProtectedMode);
        Assert.False(cpu.PagingEnabled);
        Assert.Equal(0, cpu.Cpl);
        Assert.Equal(0x2BADB002u, cpu.Eax);
        Assert.Equal(boot.InfoAddress, cpu.Ebx);
        Assert.Equal(boot.Entry, cpu.Eip);
        Assert.Equal(0u, cpu.Eflags & 0x200);
        Assert.True(cpu.A20Enabled);
        var cs = cpu.GetSegment(SegmentRegister.CS);
        Assert.Equal((0u, 0xFFFF_FFFFu, true), (cs.Base, cs.Limit, cs.Big));
        var ds = cpu.GetSegment(SegmentRegister.DS);
        Assert.Equal((0u, 0xFFFF_FFFFu), (ds.Base, ds.Limit));
    }

    [Fact]
    public void RealModeStateLoadsSegments()
    {
        var memory = new PhysicalMemory(1u << 20);
        var s = RawLoader.Load(memory, new byte[16], "r.bin", 0x12340, 0x12345, BootMode.Real);
        var cpu = new Cpu(memory, new NullBus());
        s.ApplyTo(cpu);
        Assert.False(cpu.ProtectedMode);
        Assert.Equal((ushort)0x1000, cpu.GetSelector(SegmentRegister.CS));
        Assert.Equal(0x10000u, cpu.GetSegment(SegmentRegister.CS).Base);
        Assert.Equal(0x10000u, cpu.GetSegment(SegmentRegister.SS).Base);
        Assert.Equal(0x2345u, cpu.Eip);
    }

    [Fact]
    public void RomStateIsThePowerOnResetVector()
    {
        var memory = new PhysicalMemory(1u << 20);
        var s = RomLoader.Load(memory, new byte[65536], "bios.bin");
        var cpu = new Cpu(memory, new NullBus());
        cpu.EnterFlatProtectedMode(0);
        s.ApplyTo(cpu);
        Assert.False(cpu.ProtectedMode);
        Assert.Equal((ushort)0xF000, cpu.GetSelector(SegmentRegister.CS));
        Assert.Equal(s.CodeBase, cpu.GetSegment(SegmentRegister.CS).Base);
        Assert.Equal(s.Eip, cpu.Eip);
    }
}
