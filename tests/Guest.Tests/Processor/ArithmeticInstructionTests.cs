using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace VmFt.Guest.Tests.Processor;

/// <summary>Shifts, multiply/divide, BCD and bit instructions.</summary>
public class ArithmeticInstructionTests
{
    private const uint CF = 1, PF = 4, AF = 16, ZF = 64, SF = 128, OF = 1u << 11;

    private static CpuTestHarness Flat(Action<Iced.Intel.Assembler> build)
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, build));
        return h;
    }

    [Fact]
    public void Shift_by_a_masked_count_of_zero_changes_no_flag()
    {
        var h = Flat(a => a.shl(al, cl));
        h.Cpu.Eax = 0x81;
        h.Cpu.Ecx = 32; // masked to 0
        h.Cpu.Eflags = CF | ZF | OF | AF;
        h.Cpu.Run(1);
        Assert.Equal(0x81u, h.Cpu.Eax);
        Assert.Equal(CF | ZF | OF | AF | 2, h.Cpu.Eflags);
    }

    [Theory]
    [InlineData(0xC0u, 0x80u, CF | SF, 0u)]        // MSB(result)=1 XOR CF=1: OF clear
    [InlineData(0x40u, 0x80u, SF, OF)]             // sign changed: OF set
    [InlineData(0x80u, 0x00u, CF | ZF | PF, OF)]   // CF=1 XOR MSB=0: OF set
    public void Shl_by_one_sets_cf_and_of_as_the_sdm_says(uint value, uint result, uint flags, uint of)
    {
        var h = Flat(a => a.shl(al, 1));
        h.Cpu.Eax = value;
        h.Cpu.Run(1);
        Assert.Equal(result, h.Cpu.Eax);
        Assert.Equal(flags | of, h.Cpu.Eflags & (CF | ZF | SF | PF | OF));
    }

    [Fact]
    public void Shr_by_one_sets_of_to_the_original_sign()
    {
        var h = Flat(a => a.shr(al, 1));
        h.Cpu.Eax = 0x81;
        h.Cpu.Run(1);
        Assert.Equal(0x40u, h.Cpu.Eax);
        Assert.Equal(CF | OF, h.Cpu.Eflags & (CF | OF | ZF | SF));
    }

    [Fact]
    public void Sar_by_several_keeps_the_sign_and_the_last_bit_out()
    {
        var h = Flat(a => a.sar(al, 3));
        h.Cpu.Eax = 0x94; // -108 >> 3 = -14 (0xF2); bit 2 (the last out) is 1
        h.Cpu.Run(1);
        Assert.Equal(0xF2u, h.Cpu.Eax);
        Assert.Equal(CF | SF, h.Cpu.Eflags & (CF | SF | ZF | OF));
    }

    [Fact]
    public void Rcl_of_a_byte_rotates_modulo_nine()
    {
        var h = Flat(a => a.rcl(al, 9));
        h.Cpu.Eax = 0x5A;
        h.Cpu.Eflags = CF;
        h.Cpu.Run(1);
        Assert.Equal(0x5Au, h.Cpu.Eax);
        Assert.Equal(CF, h.Cpu.Eflags & CF);
    }

    [Fact]
    public void Rcr_through_carry_and_its_overflow_flag()
    {
        var h = Flat(a => a.rcr(ax, 1));
        h.Cpu.Eax = 0x0001;
        h.Cpu.Eflags = CF;
        h.Cpu.Run(1);
        Assert.Equal(0x8000u, h.Cpu.Eax);
        Assert.Equal(CF | OF, h.Cpu.Eflags & (CF | OF)); // OF = old MSB (0) XOR old CF (1)
    }

    [Fact]
    public void Rol_by_the_operand_width_sets_cf_from_the_low_bit()
    {
        var h = Flat(a => a.rol(bl, 8));
        h.Cpu.Ebx = 0x01;
        h.Cpu.Run(1);
        Assert.Equal(0x01u, h.Cpu.Ebx);
        Assert.Equal(CF, h.Cpu.Eflags & CF);
    }

    [Fact]
    public void Shld_and_shrd_fill_from_the_second_operand()
    {
        var h = Flat(a => { a.shld(eax, ebx, 4); a.shrd(ecx, edx, cl); });
        h.Cpu.Eax = 0x1234_5678;
        h.Cpu.Ebx = 0x9ABC_DEF0;
        h.Cpu.Run(1);
        Assert.Equal(0x2345_6789u, h.Cpu.Eax);
        Assert.Equal(CF, h.Cpu.Eflags & CF); // bit 28 of 0x12345678
        h.Cpu.Ecx = 8;
        h.Cpu.Edx = 0xAB;
        h.Cpu.Run(2);
        Assert.Equal(0xAB00_0000u, h.Cpu.Ecx);
    }

    [Fact]
    public void Mul_and_imul_report_a_significant_upper_half()
    {
        var h = Flat(a => { a.mul(ebx); a.imul(ecx, edx, -3); a.imul(si); });
        h.Cpu.Eax = 0x8000_0000;
        h.Cpu.Ebx = 4;
        h.Cpu.Edx = 7;
        h.Cpu.Run(1);
        Assert.Equal(0u, h.Cpu.Eax);
        Assert.Equal(2u, h.Cpu.Edx);
        Assert.Equal(CF | OF, h.Cpu.Eflags & (CF | OF));
        h.Cpu.Edx = 7;
        h.Cpu.Run(2);
        Assert.Equal(unchecked((uint)-21), h.Cpu.Ecx);
        Assert.Equal(0u, h.Cpu.Eflags & (CF | OF));
        h.Cpu.Eax = 0xFFFF; // -1 * -1 = 1 in DX:AX
        h.Cpu.Esi = 0xFFFF;
        h.Cpu.Edx = 0x1234_5678;
        h.Cpu.Run(3);
        Assert.Equal(1u, h.Cpu.Eax);
        Assert.Equal(0x1234_0000u, h.Cpu.Edx);
    }

    [Fact]
    public void Idiv_accepts_the_most_negative_byte_quotient()
    {
        var h = Flat(a => a.idiv(bl));
        h.Cpu.Eax = 0xFF00; // -256
        h.Cpu.Ebx = 2;
        h.Cpu.Run(1);
        Assert.Equal(0x0080u, h.Cpu.Eax); // quotient -128, remainder 0
    }

    [Fact]
    public void Real_mode_divide_by_zero_goes_through_the_ivt_with_the_faulting_address()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, GuestAssembler.Assemble(16, 0x1000, a => a.div(bl)));
        ExceptionTables.SetRealModeVector(h, 0, 0, 0x3000);
        h.Memory.Load(0x3000, [0x90]);
        h.Cpu.Eax = 0x1234;
        h.Cpu.Ebx = 0;
        h.Cpu.Run(1); // the DIV retires nothing; the handler's NOP does
        Assert.Equal(0x3001u, h.Cpu.Eip);
        Assert.Equal(0x1234u, h.Cpu.Eax);
        Assert.Equal((ushort)0x1000, ExceptionTables.ReadRam16(h, 0x8000 - 6));
    }

    [Theory]
    [InlineData(false)] // DIV: DX:AX = 0x10000 / 1 does not fit in AX
    [InlineData(true)]  // IDIV: EDX:EAX = -2^63 / -1 does not fit anywhere
    public void Quotient_overflow_raises_divide_error_through_the_idt(bool signed)
    {
        var h = new CpuTestHarness();
        h.LoadFlat(0x1000, 0, GuestAssembler.Assemble(32, 0x1000, a => { if (signed) a.idiv(ebx); else a.div(bx); }));
        ExceptionTables.SetProtectedModeVectors(h, 0x5000, 0);
        h.Memory.Load(0x5000, [0x90]);
        h.Cpu.Edx = signed ? 0x8000_0000 : 1;
        h.Cpu.Eax = 0;
        h.Cpu.Ebx = signed ? 0xFFFF_FFFF : 1;
        h.Cpu.Run(1);
        Assert.Equal(0x5001u, h.Cpu.Eip);
        Assert.Equal(0x1000u, ExceptionTables.ReadRam32(h, h.Cpu.Esp)); // faulting EIP
        Assert.Equal(0u, h.Cpu.Eax);
    }

    [Fact]
    public void Aam_by_zero_is_a_divide_error_and_daa_adjusts()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, 0x27, 0xD4, 0x00); // daa ; aam 0
        ExceptionTables.SetRealModeVector(h, 0, 0, 0x3000);
        h.Memory.Load(0x3000, [0x90]);
        h.Cpu.Eax = 0x0F + 0x05; // 0x14 after adding BCD 09 + 05... use 0x0E: low nibble > 9
        h.Cpu.Eax = 0x0E;
        h.Cpu.Run(1);
        Assert.Equal(0x14u, h.Cpu.Eax);
        Assert.Equal(AF, h.Cpu.Eflags & (AF | CF));
        h.Cpu.Run(2);
        Assert.Equal(0x3001u, h.Cpu.Eip);
    }

    [Fact]
    public void Aad_combines_digits_and_aam_splits_them()
    {
        var h = new CpuTestHarness();
        h.LoadReal(0x1000, 0xD5, 0x0A, 0xD4, 0x0A); // aad ; aam
        h.Cpu.Eax = 0x0407;
        h.Cpu.Run(1);
        Assert.Equal(47u, h.Cpu.Eax);
        h.Cpu.Run(2);
        Assert.Equal(0x0407u, h.Cpu.Eax);
    }

    [Fact]
    public void Bt_with_a_register_offset_addresses_outside_the_operand()
    {
        var h = Flat(a => { a.bts(__dword_ptr[ebx], eax); a.bt(__word_ptr[ebx], cx); });
        h.Cpu.Ebx = 0x2010;
        h.Cpu.Eax = unchecked((uint)-1); // bit 31 of the dword at ebx - 4
        h.Cpu.Run(1);
        Assert.Equal(0x8000_0000u, ExceptionTables.ReadRam32(h, 0x200C));
        Assert.Equal(0u, h.Cpu.Eflags & CF);
        h.Memory.Load(0x2012, [0x00, 0x80]);
        h.Cpu.Ecx = 31; // word 1 (ebx + 2), bit 15
        h.Cpu.Run(2);
        Assert.Equal(CF, h.Cpu.Eflags & CF);
    }

    [Fact]
    public void Bt_immediate_masks_the_offset_to_the_operand()
    {
        var h = Flat(a => a.btc(__dword_ptr[ebx], 35));
        h.Cpu.Ebx = 0x2000;
        h.Cpu.Run(1);
        Assert.Equal(8u, ExceptionTables.ReadRam32(h, 0x2000));
    }

    [Fact]
    public void Bsf_and_bsr_on_zero_set_zf_and_keep_the_destination()
    {
        var h = Flat(a => { a.bsf(eax, ebx); a.bsr(ecx, edx); });
        h.Cpu.Eax = 0x1234;
        h.Cpu.Ebx = 0;
        h.Cpu.Edx = 0x0001_0100;
        h.Cpu.Run(2);
        Assert.Equal(0x1234u, h.Cpu.Eax);
        Assert.Equal(16u, h.Cpu.Ecx);
        Assert.Equal(0u, h.Cpu.Eflags & ZF);
    }

    [Fact]
    public void Setcc_and_cmovcc_follow_the_condition()
    {
        var h = Flat(a => { a.cmp(eax, ebx); a.setl(cl); a.cmovge(edx, esi); a.cmovl(edi, esi); });
        h.Cpu.Eax = unchecked((uint)-5);
        h.Cpu.Ebx = 3;
        h.Cpu.Ecx = 0xFFFF_FF00;
        h.Cpu.Edx = 0xAAAA_AAAA;
        h.Cpu.Esi = 0x5555;
        h.Cpu.Run(4);
        Assert.Equal(0xFFFF_FF01u, h.Cpu.Ecx);
        Assert.Equal(0xAAAA_AAAAu, h.Cpu.Edx); // false condition: unchanged, not zero-extended
        Assert.Equal(0x5555u, h.Cpu.Edi);
    }
}
