using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace VmFt.Guest.Tests.Processor;

/// <summary>Port I/O with the I/O permission bitmap, flag instructions and privilege, near control flow.</summary>
public class SystemFacingInstructionTests
{
    private const uint IF = 1u << 9, IOPL3 = 3u << 12, AC = 1u << 18, ID = 1u << 21;

    [Fact]
    public void In_and_out_reach_the_bus_with_their_sizes()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, a =>
        {
            a.@out(dx, al); a.@out(0x80, ax); a.@out(dx, eax); a.@in(al, dx); a.@in(ax, 0x60);
        }));
        h.Cpu.Edx = 0x3F8;
        h.Cpu.Eax = 0x1234_5678;
        h.Cpu.Run(3);
        Assert.Equal([(0x3F8, 1, 0x78u), (0x80, 2, 0x5678u), (0x3F8, 4, 0x1234_5678u)], h.PortWrites.Select(w => ((int)w.Port, w.Size, w.Value)));
        h.Cpu.Run(4);
        Assert.Equal(0x1234_56FFu, h.Cpu.Eax);
        h.Cpu.Run(5);
        Assert.Equal(0x1234_FFFFu, h.Cpu.Eax);
    }

    [Fact]
    public void Rep_outsb_writes_each_byte_to_the_port()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, a => a.rep.outsb()));
        h.Memory.Load(0x2000, "ok!"u8.ToArray());
        h.Cpu.Esi = 0x2000;
        h.Cpu.Ecx = 3;
        h.Cpu.Edx = 0xE9;
        h.Cpu.Run(3);
        Assert.Equal("ok!", string.Concat(h.PortWrites.Select(w => (char)w.Value)));
    }

    /// <summary>
    /// Ring 3 with IOPL 0: the bitmap of the current TSS decides. TR after reset describes a 32-bit
    /// TSS at linear 0 with limit FFFF; its I/O map base (offset 0x66) points at a bitmap at 0x400.
    /// </summary>
    [Fact]
    public void Ring_3_port_access_follows_the_tss_io_bitmap()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 3, GuestAssembler.Assemble(32, 0x1000, a => { a.@out(0x80, al); a.@out(0x7E, ax); }));
        ExceptionTables.SetProtectedModeVectors(h, 0x5000, 13);
        h.Memory.Load(0x5000, [0x90]);
        h.Memory.Load(0x66, [0x00, 0x04]);
        h.Memory.Load(0x400 + 0x7E / 8, [0x80, 0x00]); // port 0x7F denied: bit 7 of byte 15; 0x80 allowed
        h.Cpu.Run(1);
        Assert.Single(h.PortWrites);
        h.Cpu.Run(2); // OUT 0x7E, AX touches 0x7E and 0x7F: #GP(0)
        Assert.Single(h.PortWrites);
        Assert.Equal(0x5001u, h.Cpu.Eip);
        Assert.Equal(0u, ExceptionTables.ReadRam32(h, h.Cpu.Esp)); // error code
        Assert.Equal(0x1002u, ExceptionTables.ReadRam32(h, h.Cpu.Esp + 4)); // the faulting OUT
    }

    [Fact]
    public void Ring_3_with_iopl_3_skips_the_bitmap()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 3, GuestAssembler.Assemble(32, 0x1000, a => a.@out(0x7F, al)));
        h.Memory.Load(0x66, [0x00, 0x04]);
        h.Memory.Load(0x400 + 0x7F / 8, [0xFF, 0xFF]);
        h.Cpu.Eflags = IOPL3;
        h.Cpu.Run(1);
        Assert.Single(h.PortWrites);
    }

    [Fact]
    public void Cli_at_ring_3_without_iopl_is_a_general_protection_fault()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 3, GuestAssembler.Assemble(32, 0x1000, a => a.cli()));
        ExceptionTables.SetProtectedModeVectors(h, 0x5000, 13);
        h.Memory.Load(0x5000, [0x90]);
        h.Cpu.Eflags = IF;
        h.Cpu.Run(1);
        Assert.Equal(0x5001u, h.Cpu.Eip);
    }

    [Fact]
    public void Popf_at_ring_3_keeps_iopl_and_if_but_changes_the_rest()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 3, GuestAssembler.Assemble(32, 0x1000, a => a.popfd()));
        h.Cpu.Eflags = IF; // IOPL 0
        h.Memory.Load(0x8_FFFC, BitConverter.GetBytes(IOPL3 | 0x8D5u | AC | (1u << 17)));
        h.Cpu.Esp = 0x8_FFFC;
        h.Cpu.Run(1);
        // IF stays set (CPL 3 > IOPL 0), IOPL stays 0, VM is never popped, AC changes, bit 1 reads 1.
        Assert.Equal(IF | 0x8D5u | AC | 2, h.Cpu.Eflags);
    }

    [Fact]
    public void Id_and_ac_toggle_at_ring_0()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, a =>
        {
            a.pushfd(); a.pop(eax); a.xor(eax, ID | AC); a.push(eax); a.popfd(); a.pushfd(); a.pop(ebx);
        }));
        h.Cpu.Run(7);
        Assert.Equal(ID | AC | 2, h.Cpu.Ebx & (ID | AC | 2));
    }

    [Fact]
    public void Sti_enables_interrupts_only_after_the_next_instruction()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a => { a.sti(); a.inc(ax); a.inc(ax); }));
        ExceptionTables.SetRealModeVector(h, 0x20, 0, 0x3000);
        h.Memory.Load(0x3000, [0x90]);
        h.Cpu.InterruptLine = true;
        h.Cpu.Run(2); // STI, then the first INC in the shadow
        Assert.Equal(1u, h.Cpu.Eax);
        h.Cpu.Run(3);
        Assert.Equal(0x3001u, h.Cpu.Eip);
        Assert.Equal(1u, h.Cpu.Eax);
    }

    [Fact]
    public void Hlt_at_ring_3_faults_and_at_ring_0_halts()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 3, GuestAssembler.Assemble(32, 0x1000, a => a.hlt()));
        ExceptionTables.SetProtectedModeVectors(h, 0x5000, 13);
        h.Memory.Load(0x5000, [0x90]);
        Assert.Equal(CpuExit.PositionReached, h.Cpu.Run(1));
        Assert.Equal(0x5001u, h.Cpu.Eip);

        var g = new CpuTestHarness();
        g.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, a => a.hlt()));
        Assert.Equal(CpuExit.Halted, g.Cpu.Run(10));
    }

    [Fact]
    public void Near_call_and_ret_with_immediate()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a =>
        {
            var f = a.CreateLabel();
            a.push(0x1111);
            a.call(f);
            a.hlt();
            a.Label(ref f);
            a.mov(ax, 7);
            a.ret(2);
        }));
        Assert.Equal(CpuExit.Halted, h.Cpu.Run(100));
        Assert.Equal(7u, h.Cpu.Eax);
        Assert.Equal(0x8000u, h.Cpu.Esp);
    }

    [Fact]
    public void Loop_counts_cx_and_jcxz_tests_it()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a =>
        {
            var top = a.CreateLabel();
            var done = a.CreateLabel();
            a.Label(ref top);
            a.inc(ax);
            a.loop(top);
            a.jcxz(done);
            a.inc(bx);
            a.Label(ref done);
            a.hlt();
        }));
        h.Cpu.Ecx = 0xABCD_0003; // only CX counts with a 16-bit address size
        h.Cpu.Run(100);
        Assert.Equal(3u, h.Cpu.Eax);
        Assert.Equal(0u, h.Cpu.Ebx);
        Assert.Equal(0xABCD_0000u, h.Cpu.Ecx);
    }

    [Fact]
    public void Indirect_jump_through_memory_and_a_16_bit_call_truncates_eip()
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, a => a.jmp(__dword_ptr[ebx])));
        h.Memory.Load(0x2000, BitConverter.GetBytes(0x4000u));
        h.Memory.Load(0x4000, [0xF4]);
        h.Cpu.Ebx = 0x2000;
        Assert.Equal(CpuExit.Halted, h.Cpu.Run(10));
        Assert.Equal(0x4001u, h.Cpu.Eip);
    }

    [Fact]
    public void Bound_out_of_range_raises_br_and_int3_goes_through_vector_3()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a => { a.bound(ax, __dword_ptr[bx]); }));
        ExceptionTables.SetRealModeVector(h, 5, 0, 0x3000);
        h.Memory.Load(0x3000, [0xCC]); // the #BR handler executes INT3
        ExceptionTables.SetRealModeVector(h, 3, 0, 0x3100);
        h.Memory.Load(0x3100, [0x90]);
        h.Memory.Load(0x2000, [0xFE, 0xFF, 0x05, 0x00]); // bounds -2..5
        h.Cpu.Ebx = 0x2000;
        h.Cpu.Eax = 6;
        h.Cpu.Run(2); // BOUND faults (no retire), INT3 retires, the NOP retires
        Assert.Equal(0x3101u, h.Cpu.Eip);
        Assert.Equal((ushort)0x3001, ExceptionTables.ReadRam16(h, 0x8000 - 12)); // INT3 pushes the next IP
        Assert.Equal((ushort)0x1000, ExceptionTables.ReadRam16(h, 0x8000 - 6)); // #BR pushes BOUND's own IP
    }
}
