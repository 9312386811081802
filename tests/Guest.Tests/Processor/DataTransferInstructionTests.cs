using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace VmFt.Guest.Tests.Processor;

/// <summary>MOV, exchanges, the stack instructions, ENTER/LEAVE, conversions.</summary>
public class DataTransferInstructionTests
{
    private const uint ZF = 64;

    private static CpuTestHarness Flat(Action<Iced.Intel.Assembler> build)
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, build));
        return h;
    }

    [Fact]
    public void Cmpxchg8b_stores_on_equal_and_loads_on_difference()
    {
        var h = Flat(a => { a.cmpxchg8b(__qword_ptr[esi]); a.cmpxchg8b(__qword_ptr[esi]); });
        h.Memory.Load(0x2000, BitConverter.GetBytes(0x1111_1111_2222_2222UL));
        h.Cpu.Esi = 0x2000;
        h.Cpu.Edx = 0x1111_1111;
        h.Cpu.Eax = 0x2222_2222;
        h.Cpu.Ecx = 0x3333_3333;
        h.Cpu.Ebx = 0x4444_4444;
        h.Cpu.Run(1);
        Assert.Equal(0x3333_3333_4444_4444UL, BitConverter.ToUInt64(h.Memory.Ram, 0x2000));
        Assert.Equal(ZF, h.Cpu.Eflags & ZF);
        h.Cpu.Run(2); // EDX:EAX still holds the old value: now different
        Assert.Equal(0x3333_3333u, h.Cpu.Edx);
        Assert.Equal(0x4444_4444u, h.Cpu.Eax);
        Assert.Equal(0u, h.Cpu.Eflags & ZF);
    }

    [Fact]
    public void Cmpxchg_loads_the_accumulator_when_different()
    {
        var h = Flat(a => a.cmpxchg(__dword_ptr[esi], ebx));
        h.Memory.Load(0x2000, BitConverter.GetBytes(7u));
        h.Cpu.Esi = 0x2000;
        h.Cpu.Eax = 5;
        h.Cpu.Ebx = 9;
        h.Cpu.Run(1);
        Assert.Equal(7u, h.Cpu.Eax);
        Assert.Equal(7u, ExceptionTables.ReadRam32(h, 0x2000));
        Assert.Equal(0u, h.Cpu.Eflags & ZF);
    }

    [Fact]
    public void Xadd_exchanges_then_adds()
    {
        var h = Flat(a => a.xadd(__dword_ptr[esi], ebx));
        h.Memory.Load(0x2000, BitConverter.GetBytes(40u));
        h.Cpu.Esi = 0x2000;
        h.Cpu.Ebx = 2;
        h.Cpu.Run(1);
        Assert.Equal(42u, ExceptionTables.ReadRam32(h, 0x2000));
        Assert.Equal(40u, h.Cpu.Ebx);
    }

    [Fact]
    public void Push_esp_pushes_the_value_before_the_push_and_pop_esp_takes_the_popped_value()
    {
        var h = Flat(a => { a.push(esp); a.pop(esp); });
        h.Cpu.Run(1);
        Assert.Equal(0x9_0000u, ExceptionTables.ReadRam32(h, 0x8_FFFC));
        h.Memory.Load(0x8_FFFC, BitConverter.GetBytes(0x1234_5678u));
        h.Cpu.Run(2);
        Assert.Equal(0x1234_5678u, h.Cpu.Esp);
    }

    [Fact]
    public void Pop_to_memory_addresses_with_the_incremented_esp()
    {
        var h = Flat(a => a.pop(__dword_ptr[esp]));
        h.Memory.Load(0x8_FFF8, BitConverter.GetBytes(0xAAAA_AAAAu));
        h.Cpu.Esp = 0x8_FFF8;
        h.Cpu.Run(1);
        Assert.Equal(0x8_FFFCu, h.Cpu.Esp);
        Assert.Equal(0xAAAA_AAAAu, ExceptionTables.ReadRam32(h, 0x8_FFFC));
    }

    [Fact]
    public void Push_of_a_segment_register_with_32_bit_operand_size_writes_a_word_and_moves_esp_by_four()
    {
        var h = Flat(a => a.push(ds));
        h.Memory.Load(0x8_FFFC, BitConverter.GetBytes(0xFFFF_FFFFu));
        h.Cpu.Run(1);
        Assert.Equal(0x8_FFFCu, h.Cpu.Esp);
        Assert.Equal(0xFFFF_0010u, ExceptionTables.ReadRam32(h, 0x8_FFFC));
    }

    [Fact]
    public void Pushad_and_popad_round_trip_except_esp()
    {
        var h = Flat(a =>
        {
            a.pushad();
            a.xor(eax, eax); a.xor(ebx, ebx); a.xor(ebp, ebp); a.xor(edi, edi);
            a.sub(esp, 0x100);
            a.add(esp, 0x100);
            a.popad();
        });
        h.Cpu.Eax = 1; h.Cpu.Ecx = 2; h.Cpu.Edx = 3; h.Cpu.Ebx = 4; h.Cpu.Ebp = 6; h.Cpu.Esi = 7; h.Cpu.Edi = 8;
        h.Cpu.Run(8);
        Assert.Equal(new uint[] { 1, 2, 3, 4, 0x9_0000, 6, 7, 8 },
            new[] { h.Cpu.Eax, h.Cpu.Ecx, h.Cpu.Edx, h.Cpu.Ebx, h.Cpu.Esp, h.Cpu.Ebp, h.Cpu.Esi, h.Cpu.Edi });
        Assert.Equal(0x9_0000u, ExceptionTables.ReadRam32(h, 0x9_0000 - 20)); // the ESP slot: ESP before PUSHAD
    }

    [Fact]
    public void Enter_with_nesting_copies_the_frame_pointers_and_leave_undoes_it()
    {
        var h = Flat(a => { a.enter(8, 2); a.leave(); });
        h.Cpu.Ebp = 0x8_F000;
        h.Memory.Load(0x8_F000 - 4, BitConverter.GetBytes(0xCAFE_F00Du)); // the outer frame's display entry
        h.Cpu.Run(1);
        // push ebp ; push [ebp-4] ; push frameTemp ; esp -= 8
        uint frame = 0x9_0000 - 4;
        Assert.Equal(frame, h.Cpu.Ebp);
        Assert.Equal(0x8_F000u, ExceptionTables.ReadRam32(h, frame));
        Assert.Equal(0xCAFE_F00Du, ExceptionTables.ReadRam32(h, frame - 4));
        Assert.Equal(frame, ExceptionTables.ReadRam32(h, frame - 8));
        Assert.Equal(frame - 8 - 8, h.Cpu.Esp);
        h.Cpu.Run(2);
        Assert.Equal(0x9_0000u, h.Cpu.Esp);
        Assert.Equal(0x8_F000u, h.Cpu.Ebp);
    }

    [Fact]
    public void Mov_from_a_segment_register_zero_extends_into_a_32_bit_register_and_stores_a_word()
    {
        var h = Flat(a => { a.mov(eax, ss); a.mov(__word_ptr[ebx], cs); });
        h.Cpu.Eax = 0xFFFF_FFFF;
        h.Cpu.Ebx = 0x2000;
        h.Memory.Load(0x2000, [0xFF, 0xFF, 0xFF, 0xFF]);
        h.Cpu.Run(2);
        Assert.Equal(0x10u, h.Cpu.Eax);
        Assert.Equal(0xFFFF_0008u, ExceptionTables.ReadRam32(h, 0x2000));
    }

    [Fact]
    public void Mov_ss_holds_off_interrupts_for_one_instruction()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a => { a.mov(ss, ax); a.mov(sp, 0x7000); a.nop(); }));
        ExceptionTables.SetRealModeVector(h, 0x20, 0, 0x3000);
        h.Memory.Load(0x3000, [0x90]);
        h.Cpu.Eflags = 1u << 9;
        h.Cpu.InterruptLine = true;
        h.Cpu.Eax = 0;
        // The line is already high: the interrupt comes at once, before MOV SS.
        h.Cpu.Run(1);
        Assert.Equal(0x3001u, h.Cpu.Eip);

        var g = new CpuTestHarness();
        g.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a => { a.mov(ss, ax); a.mov(sp, 0x7000); a.nop(); }));
        ExceptionTables.SetRealModeVector(g, 0x20, 0, 0x3000);
        g.Memory.Load(0x3000, [0x90]);
        g.Cpu.Eflags = 1u << 9;
        g.Cpu.Run(1);
        g.Cpu.InterruptLine = true;
        g.Cpu.Run(2); // MOV SP runs in the shadow; the interrupt comes after it
        Assert.Equal(0x3000u, g.Cpu.Eip);
        Assert.Equal(0x7000u - 6, g.Cpu.Esp);
        Assert.Equal((ushort)0x1005, ExceptionTables.ReadRam16(g, 0x7000 - 6)); // returns to the NOP
    }

    [Fact]
    public void Lea_truncates_to_the_address_and_operand_sizes()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a => { a.lea(eax, __[bx + si + 0x10]); a.lea(cx, __dword_ptr[edx + 0x10]); }));
        h.Cpu.Ebx = 0xFFF0;
        h.Cpu.Esi = 0x10;
        h.Cpu.Edx = 0x1_FFFF;
        h.Cpu.Ecx = 0xAAAA_AAAA;
        h.Cpu.Run(2);
        Assert.Equal(0x10u, h.Cpu.Eax);
        Assert.Equal(0xAAAA_000Fu, h.Cpu.Ecx);
    }

    [Fact]
    public void Conversions_and_byte_swaps()
    {
        var h = Flat(a => { a.cbw(); a.cwde(); a.cdq(); a.bswap(ebx); a.movsx(ecx, dl); a.movzx(esi, dl); });
        h.Cpu.Eax = 0x1234_5680;
        h.Cpu.Ebx = 0x1122_3344;
        h.Cpu.Run(3);
        Assert.Equal(0xFFFF_FF80u, h.Cpu.Eax);
        Assert.Equal(0xFFFF_FFFFu, h.Cpu.Edx);
        h.Cpu.Edx = 0x90;
        h.Cpu.Run(6);
        Assert.Equal(0x4433_2211u, h.Cpu.Ebx);
        Assert.Equal(0xFFFF_FF90u, h.Cpu.Ecx);
        Assert.Equal(0x90u, h.Cpu.Esi);
    }

    [Fact]
    public void Lahf_and_sahf_move_the_low_flag_byte()
    {
        var h = Flat(a => { a.sahf(); a.lahf(); });
        h.Cpu.Eax = 0xFF00;
        h.Cpu.Run(1);
        Assert.Equal(0xD5u | 2, h.Cpu.Eflags & 0xFF);
        h.Cpu.Run(2);
        Assert.Equal(0xD7u, (h.Cpu.Eax >> 8) & 0xFF);
    }

    [Fact]
    public void Xlat_indexes_with_unsigned_al()
    {
        var h = Flat(a => a.xlatb());
        h.Memory.Load(0x2000 + 0xF0, [0x42]);
        h.Cpu.Ebx = 0x2000;
        h.Cpu.Eax = 0xF0;
        h.Cpu.Run(1);
        Assert.Equal(0x42u, h.Cpu.Eax);
    }

    [Fact]
    public void Les_loads_offset_and_segment()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a => a.les(di, __dword_ptr[bx])));
        h.Memory.Load(0x2000, [0x34, 0x12, 0x00, 0x30]);
        h.Cpu.Ebx = 0x2000;
        h.Cpu.Run(1);
        Assert.Equal(0x1234u, h.Cpu.Edi);
        Assert.Equal((ushort)0x3000, h.Cpu.GetSelector(SegmentRegister.ES));
        Assert.Equal(0x30000u, h.Cpu.GetSegment(SegmentRegister.ES).Base);
    }
}
