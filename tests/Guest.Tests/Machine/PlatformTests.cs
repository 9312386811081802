using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;

namespace VmFt.Guest.Tests.Machine;

/// <summary>How the PC's ends and gates behave as Linux uses them: halting dead, reset ports, A20 from two sources.</summary>
public class PlatformTests
{
    private static PcMachine Run(params byte[] code)
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 1u << 20 });
        RawLoader.Load(machine.Memory, code, "code", 0x1000, 0x1000, BootMode.FlatProtected).ApplyTo(machine.Cpu);
        return machine;
    }

    [Fact]
    public void HaltWithInterruptsOffIsDeadEvenAtTheLimit()
    {
        var machine = Run(0xFA, 0xF4, 0x90);   // cli; hlt
        Assert.Equal(MachineExitReason.DeadHalt, machine.RunUntil(100));
        ulong at = machine.Cpu.Position;
        // Asked again, at or below where it stands (a replay reaching the recorded HLT), it is still dead.
        Assert.Equal(MachineExitReason.DeadHalt, machine.RunUntil(at));
        Assert.Equal(MachineExitReason.DeadHalt, machine.RunUntil(at + 50));
        Assert.Equal(at, machine.Cpu.Position);
    }

    [Fact]
    public void HaltWithInterruptsOnIsIdle()
    {
        var machine = Run(0xFB, 0xF4, 0x90);   // sti; hlt
        Assert.Equal(MachineExitReason.Idle, machine.RunUntil(100));
    }

    [Theory]
    [InlineData(0xCF9, 0x06)]   // PIIX3 reset control: RCPU rising
    [InlineData(0x92, 0x03)]    // port A: fast reset, A20 kept on
    [InlineData(0x64, 0xFE)]    // 8042: pulse the reset line
    public void EveryResetPortEndsTheRunAsAResetRequest(ushort port, byte value)
    {
        // mov dx, port; mov al, value; out dx, al; jmp $
        var machine = Run(0x66, 0xBA, (byte)port, (byte)(port >> 8), 0xB0, value, 0xEE, 0xEB, 0xFE);
        Assert.Equal(MachineExitReason.ResetRequested, machine.RunUntil(1000));
    }

    [Fact]
    public void A20IsTheOrOfThe8042AndPort92()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 1u << 20 });
        Assert.True(machine.Cpu.A20Enabled);
        machine.Ports.Write(0x92, 1, 0x00);                  // port A off, the 8042's gate still on
        Assert.True(machine.Cpu.A20Enabled);
        machine.Ports.Write(0x64, 1, 0xD1);                  // write output port: A20 off, reset line high
        machine.Ports.Write(0x60, 1, 0x01);
        Assert.False(machine.Cpu.A20Enabled);
        machine.Ports.Write(0x92, 1, 0x02);                  // either source turns it on
        Assert.True(machine.Cpu.A20Enabled);
        machine.Ports.Write(0x92, 1, 0x00);
        Assert.False(machine.Cpu.A20Enabled);
        machine.Ports.Write(0x64, 1, 0xDF);                  // 8042 "A20 on"
        Assert.True(machine.Cpu.A20Enabled);
    }
}
