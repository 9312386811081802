using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Processor;

public class StringInstructionTests
{
    [Fact]
    public void Rep_movsb_retires_one_position_per_iteration_and_stops_between_them()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(32, 0x1000, a => { a.rep.movsb(); a.nop(); });
        h.LoadFlat(0x1000, 0, code);
        h.Memory.Load(0x2000, "hello"u8.ToArray());
        h.Cpu.Esi = 0x2000;
        h.Cpu.Edi = 0x3000;
        h.Cpu.Ecx = 5;

        Assert.Equal(CpuExit.PositionReached, h.Cpu.Run(2));
        Assert.Equal(0x1000u, h.Cpu.Eip); // still on the MOVSB, two iterations done
        Assert.Equal(3u, h.Cpu.Ecx);
        Assert.Equal(0x2002u, h.Cpu.Esi);
        Assert.Equal(0x3002u, h.Cpu.Edi);
        Assert.Equal((byte)'e', h.Memory.Ram[0x3001]);
        Assert.Equal(0, h.Memory.Ram[0x3002]);

        h.Cpu.Run(5);
        Assert.Equal(0u, h.Cpu.Ecx);
        Assert.Equal(0x1002u, h.Cpu.Eip);
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(h.Memory.Ram, 0x3000, 5));
        h.Cpu.Run(6);
        Assert.Equal(0x1003u, h.Cpu.Eip);
    }

    [Fact]
    public void Rep_stosd_with_zero_count_writes_nothing_and_retires()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(32, 0x1000, a => a.rep.stosd());
        h.LoadFlat(0x1000, 0, code);
        h.Cpu.Eax = 0xDEAD_BEEF;
        h.Cpu.Edi = 0x3000;
        h.Cpu.Ecx = 0;
        h.Cpu.Run(1);
        Assert.Equal(1UL, h.Cpu.Position);
        Assert.Equal((uint)code.Length + 0x1000, h.Cpu.Eip);
        Assert.Equal(0x3000u, h.Cpu.Edi);
        Assert.Equal(0u, ExceptionTables.ReadRam32(h, 0x3000));
    }

    [Fact]
    public void Rep_stosd_fills_dwords()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(32, 0x1000, a => a.rep.stosd());
        h.LoadFlat(0x1000, 0, code);
        h.Cpu.Eax = 0xDEAD_BEEF;
        h.Cpu.Edi = 0x3000;
        h.Cpu.Ecx = 3;
        h.Cpu.Run(3);
        Assert.Equal(0xDEAD_BEEFu, ExceptionTables.ReadRam32(h, 0x3008));
        Assert.Equal(0u, ExceptionTables.ReadRam32(h, 0x300C));
        Assert.Equal(0x300Cu, h.Cpu.Edi);
        Assert.Equal(0u, h.Cpu.Ecx);
    }

    [Fact]
    public void Repe_cmpsb_stops_at_the_first_difference()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(32, 0x1000, a => { a.repe.cmpsb(); a.hlt(); });
        h.LoadFlat(0x1000, 0, code);
        h.Memory.Load(0x2000, "abcX"u8.ToArray());
        h.Memory.Load(0x3000, "abcY"u8.ToArray());
        h.Cpu.Esi = 0x2000;
        h.Cpu.Edi = 0x3000;
        h.Cpu.Ecx = 10;
        Assert.Equal(CpuExit.Halted, h.Cpu.Run(100));
        Assert.Equal(5UL, h.Cpu.Position); // four comparisons and the HLT
        Assert.Equal(6u, h.Cpu.Ecx);
        Assert.Equal(0x2004u, h.Cpu.Esi);
        Assert.Equal(0u, h.Cpu.Eflags & (1u << 6)); // ZF clear: stopped on a difference
        Assert.NotEqual(0u, h.Cpu.Eflags & 1u); // 'X' < 'Y': borrow
    }

    [Fact]
    public void Repne_scasb_finds_a_byte()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(32, 0x1000, a => { a.repne.scasb(); a.hlt(); });
        h.LoadFlat(0x1000, 0, code);
        h.Memory.Load(0x3000, "abc\0def"u8.ToArray());
        h.Cpu.Eax = 0;
        h.Cpu.Edi = 0x3000;
        h.Cpu.Ecx = 0xFFFF_FFFF;
        h.Cpu.Run(100);
        Assert.Equal(0x3004u, h.Cpu.Edi);
        Assert.Equal(0xFFFF_FFFFu - 4, h.Cpu.Ecx);
    }

    [Fact]
    public void Real_mode_std_rep_stosw_walks_down_with_16_bit_registers()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(16, 0x1000, a => { a.std(); a.rep.stosw(); a.hlt(); });
        h.LoadReal(0x1000, code);
        h.Cpu.Eax = 0xABCD;
        h.Cpu.Edi = 0xFFFF_0010; // the upper half is not part of a 16-bit address
        h.Cpu.Ecx = 0x7777_0003;
        h.Cpu.Run(100);
        Assert.Equal(0xFFFF_000Au, h.Cpu.Edi);
        Assert.Equal(0x7777_0000u, h.Cpu.Ecx);
        Assert.Equal((ushort)0xABCD, ExceptionTables.ReadRam16(h, 0x0C));
        Assert.Equal((ushort)0xABCD, ExceptionTables.ReadRam16(h, 0x10));
        Assert.Equal((ushort)0, ExceptionTables.ReadRam16(h, 0x0A));
    }

    [Fact]
    public void An_interrupt_between_iterations_returns_to_the_rep_instruction()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(16, 0x1000, a => { a.rep.stosb(); a.hlt(); });
        h.LoadReal(0x1000, code);
        ExceptionTables.SetRealModeVector(h, 0x20, 0, 0x3000);
        h.Memory.Load(0x3000, [0x90]);
        h.Cpu.Eflags = 1u << 9; // IF
        h.Cpu.Edi = 0x4000;
        h.Cpu.Ecx = 5;
        h.Cpu.Run(2);
        h.Cpu.InterruptLine = true;
        h.Cpu.Run(3); // the interrupt arrives, then the handler's NOP retires
        Assert.Equal(0x3001u, h.Cpu.Eip);
        Assert.Equal(3u, h.Cpu.Ecx);
        // The frame holds the REP STOSB's own address, so the remaining iterations run after IRET.
        Assert.Equal((ushort)0x1000, ExceptionTables.ReadRam16(h, 0x8000 - 6));
    }

    [Fact]
    public void Movs_takes_a_segment_override_on_the_source_only()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, 0x26, 0xA4); // es movsb: es:[si] -> es:[di]
        h.Cpu.LoadRealModeSegment(SegmentRegister.ES, 0x0200); // ES base 0x2000
        h.Memory.Load(0x2010, [0x5A]);
        h.Memory.Load(0x0010, [0x11]);
        h.Cpu.Esi = 0x10;
        h.Cpu.Edi = 0x20;
        h.Cpu.Run(1);
        Assert.Equal(0x5A, h.Memory.Ram[0x2020]);
    }
}
