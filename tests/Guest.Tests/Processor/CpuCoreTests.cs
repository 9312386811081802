using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Processor;

public class CpuCoreTests
{
    [Fact]
    public void Reset_state_is_the_architectural_one()
    {
        var h = new CpuTestHarness();
        Assert.Equal(0xFFF0u, h.Cpu.Eip);
        Assert.Equal((ushort)0xF000, h.Cpu.GetSelector(SegmentRegister.CS));
        Assert.Equal(0xFFFF_0000u, h.Cpu.GetSegment(SegmentRegister.CS).Base);
        Assert.Equal(2u, h.Cpu.Eflags);
        Assert.False(h.Cpu.ProtectedMode);
    }

    [Fact]
    public void Real_mode_add_counts_positions_and_sets_flags()
    {
        var h = new CpuTestHarness();
        // add ax, 0x7FFF ; add ax, 1
        h.LoadReal(0x1000, 0x05, 0xFF, 0x7F, 0x05, 0x01, 0x00);
        Assert.Equal(CpuExit.PositionReached, h.Cpu.Run(2));
        Assert.Equal(2UL, h.Cpu.Position);
        Assert.Equal(0x8000u, h.Cpu.Eax & 0xFFFF);
        Assert.Equal(0x1006u, h.Cpu.Eip);
        uint f = h.Cpu.Eflags;
        Assert.True((f & (1u << 11)) != 0, "OF"); // 0x7FFF + 1 overflows
        Assert.True((f & (1u << 7)) != 0, "SF");
        Assert.True((f & 1u) == 0, "CF");
    }

    [Fact]
    public void Flat_mode_memory_operand_round_trips_through_ram()
    {
        var h = new CpuTestHarness();
        h.Memory.Load(0x2000, BitConverter.GetBytes(40u));
        h.Cpu.Ebx = 0x2000;
        // add dword [ebx], 2 ; add eax, [ebx]
        h.LoadFlat(0x1000, 0, 0x83, 0x03, 0x02, 0x03, 0x03);
        h.Cpu.Ebx = 0x2000;
        h.Cpu.Run(2);
        Assert.Equal(42u, h.Cpu.Eax);
        Assert.Equal(42u, BitConverter.ToUInt32(h.Memory.Ram, 0x2000));
    }

    [Fact]
    public void Undecodable_bytes_raise_invalid_opcode_once_logged()
    {
        var h = new CpuTestHarness();
        // IVT entry 6 -> 0000:0x3000 ; at 0x1000: 0F 0B (UD2) ... handled or unimplemented, both #UD.
        h.Memory.Load(6 * 4, [0x00, 0x30, 0x00, 0x00]);
        h.LoadReal(0x1000, 0xFF, 0xFF);
        // The fault retires nothing; the one instruction that does retire is the handler's first
        // (00 00 = add [bx+si], al, two bytes).
        h.Cpu.Run(1);
        Assert.Equal(0x3002u, h.Cpu.Eip);
        Assert.Equal(1UL, h.Cpu.Position);
        Assert.Single(h.Log);
    }
}

public class CpuFaultLoopTests
{
    [Fact]
    public void A_handler_that_faults_before_retiring_anything_ends_in_shutdown_not_a_hang()
    {
        var h = new CpuTestHarness();
        // #UD's IVT entry points at a UD2: every delivery raises #UD again, retiring nothing.
        h.Memory.Load(6 * 4, [0x00, 0x30, 0x00, 0x00]);
        h.Memory.Load(0x3000, [0x0F, 0x0B]);
        h.LoadReal(0x1000, 0x0F, 0x0B);
        h.Cpu.LoadRealModeSegment(SegmentRegister.SS, 0x2000); // the frames pile up away from the code
        Assert.Equal(CpuExit.Shutdown, h.Cpu.Run(1000));
        Assert.Equal(0UL, h.Cpu.Position);
        Assert.Contains(h.Log, l => l.Contains("exception loop"));
    }
}

public class DecodedCodeInvalidationTests
{
    [Fact]
    public void Data_stores_beside_code_keep_it_decoded_but_stores_into_it_drop_it()
    {
        var h = new CpuTestHarness();
        // 0x1000: add [ebx], eax ; add eax, 1 ; add eax, 1   (ebx points into the same page)
        h.LoadFlat(0x1000, 0, 0x01, 0x03, 0x83, 0xC0, 0x01, 0x83, 0xC0, 0x01);
        h.Cpu.Ebx = 0x1800;
        h.Cpu.Eax = 5;
        h.Cpu.Run(3);
        Assert.Equal(7u, h.Cpu.Eax);
        Assert.Equal(5u, BitConverter.ToUInt32(h.Memory.Ram, 0x1800));
        Assert.Equal(0UL, h.Cpu.CodePagesDropped);

        // Now store into the third instruction's immediate: the page's code must go.
        h.Cpu.Eip = 0x1000;
        h.Cpu.Ebx = 0x1007;           // the imm8 of the last "add eax, 1"
        h.Cpu.Eax = 0x0000_0041;      // ... becomes 0x41 (then the rest of the dword lands after it)
        h.Cpu.Run(6);
        Assert.Equal(1UL, h.Cpu.CodePagesDropped);
        Assert.Equal(0x41u + 1 + 0x42, h.Cpu.Eax); // the third add now adds the new immediate (0x41 + 1)
    }
}
