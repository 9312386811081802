using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

public class SystemInstructionTests
{
    [Fact]
    public void Np_while_delivering_gp_becomes_a_double_fault()
    {
        var k = new K();
        k.SetDescriptor(7, 0, 0xFFFFF, 0x1A, big: true, granular: true); // 0x38: code, not present
        k.SetGate(13, K.Handlers, selector: 0x38);                      // #GP handler in that segment
        k.RecordingHandler(8, hasErrorCode: true);
        k.Start(a =>
        {
            a.mov(ax, 0x3FB);
            a.mov(ds, ax); // #GP(0x3F8)
            a.hlt();
        });
        Assert.Equal(CpuExit.Halted, k.RunToHalt());
        Assert.Equal(9u, k.ReadU32(K.Record(8)));
        Assert.Equal(0u, k.ReadU32(K.Record(8) + 4));
    }

    [Fact]
    public void Fault_while_delivering_a_double_fault_shuts_the_processor_down()
    {
        var k = new K();
        k.SetDescriptor(7, 0, 0xFFFFF, 0x1A, big: true, granular: true);
        k.SetGate(13, K.Handlers, selector: 0x38);
        k.SetGate(8, K.Handlers, selector: 0x38);
        k.Start(a =>
        {
            a.mov(ax, 0x3FB);
            a.mov(ds, ax);
            a.hlt();
        });
        Assert.Equal(CpuExit.Shutdown, k.RunToHalt());
        Assert.True(k.Cpu.IsShutdown);
        Assert.Equal(CpuExit.Shutdown, k.Cpu.Run(k.Cpu.Position + 10));
        Assert.Contains(k.H.Log, l => l.Contains("triple fault"));
    }

    [Fact]
    public void Not_present_idt_gate_reports_the_idt_entry_with_ext_set()
    {
        var k = new K();
        k.SetGate(6, K.Handlers, present: false); // #UD gate absent
        k.RecordingHandler(11, hasErrorCode: true);
        k.Start(a =>
        {
            a.ud2();
            a.hlt();
        });
        k.RunToHalt();
        // #UD and #NP are not both contributory: #NP is delivered, naming IDT entry 6 (IDT bit) with EXT.
        Assert.Equal(12u, k.ReadU32(K.Record(11)));
        Assert.Equal(6u * 8 + 2 + 1, k.ReadU32(K.Record(11) + 4));
    }

    [Fact]
    public void Sysenter_and_sysexit_round_trip_between_ring3_and_ring0()
    {
        var k = new K();
        const uint entry = 0x4_0000, kernelEsp = 0x7_0000, userEsp = 0x6_0000;
        k.Assemble(entry, a =>
        {
            a.mov(edi, eax);   // what ring 3 passed
            a.mov(ax, cs);
            a.mov(si, ss);
            a.hlt();
        });
        k.Assemble(K.UserCode, a =>
        {
            a.mov(bx, cs);     // proves ring 3 ran
            a.mov(eax, 0x42);
            a.sysenter();
        });
        k.Start(a =>
        {
            a.mov(ecx, 0x174);
            a.xor(edx, edx);
            a.mov(eax, (uint)K.KernelCs);
            a.wrmsr();
            a.mov(ecx, 0x175);
            a.mov(eax, kernelEsp);
            a.wrmsr();
            a.mov(ecx, 0x176);
            a.mov(eax, entry);
            a.wrmsr();
            a.mov(ecx, userEsp);
            a.mov(edx, K.UserCode);
            a.sysexit();
        });
        k.RunToHalt();
        Assert.Equal(0x42u, k.Cpu.Edi);
        Assert.Equal((uint)K.UserCs, k.Cpu.Ebx & 0xFFFF);
        Assert.Equal((uint)K.KernelCs, k.Cpu.Eax & 0xFFFF);
        Assert.Equal((uint)K.KernelDs, k.Cpu.Esi & 0xFFFF);
        Assert.Equal(kernelEsp, k.Cpu.Esp);
        Assert.Equal(0, k.Cpu.Cpl);
    }

    [Fact]
    public void Sysenter_with_a_null_sysenter_cs_is_gp()
    {
        var k = new K();
        k.RecordingHandler(13, hasErrorCode: true);
        k.Start(a =>
        {
            a.sysenter();
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
    }

    [Fact]
    public void Store_into_the_next_instruction_changes_what_executes()
    {
        var k = new K();
        // First pass only to learn where the MOV EAX lands after the prologue; the store's length
        // does not depend on its address (disp32), so the second pass keeps every address.
        k.Start(a =>
        {
            a.mov(__byte_ptr[0], 0x77);
            a.mov(eax, 0x11u);
            a.hlt();
        });
        uint next = ProtectedModeTests.FindInstruction(k, Code.Mov_r32_imm32, occurrence: 1); // 0 is MOV ESP
        k.Start(a =>
        {
            a.mov(__byte_ptr[next + 1], 0x77); // the low byte of the next instruction's immediate
            a.mov(eax, 0x11u);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0x77u, k.Cpu.Eax);
    }

    [Fact]
    public void Store_into_already_executed_code_is_seen_on_the_next_pass()
    {
        var k = new K();
        const uint loop = 0x4_0000;
        // loop: mov eax, imm32 ; add ebx, eax ; inc ecx ; cmp ecx, 2 ; je done ; mov byte [loop+1], 0x77 ; jmp loop ; done: hlt
        k.Assemble(loop, a =>
        {
            var top = a.CreateLabel();
            var done = a.CreateLabel();
            a.Label(ref top);
            a.mov(eax, 0x11u);
            a.add(ebx, eax);
            a.inc(ecx);
            a.cmp(ecx, 2);
            a.je(done);
            a.mov(__byte_ptr[loop + 1], 0x77);
            a.jmp(top);
            a.Label(ref done);
            a.hlt();
        });
        k.Start(a =>
        {
            a.xor(ebx, ebx);
            a.xor(ecx, ecx);
            a.jmp(loop);
        });
        k.RunToHalt();
        Assert.Equal(0x11u + 0x77u, k.Cpu.Ebx);
    }

    [Fact]
    public void Cpuid_reports_the_vendor_family_and_features()
    {
        var k = new K();
        k.Start(a =>
        {
            a.xor(eax, eax);
            a.cpuid();
            a.mov(__dword_ptr[K.Results], ebx);
            a.mov(__dword_ptr[K.Results + 4], edx);
            a.mov(__dword_ptr[K.Results + 8], ecx);
            a.mov(__dword_ptr[K.Results + 12], eax);
            a.mov(eax, 1);
            a.cpuid();
            a.hlt();
        });
        k.RunToHalt();
        var vendor = System.Text.Encoding.ASCII.GetString(k.H.Memory.Ram, (int)K.Results, 12);
        Assert.Equal("GenuineIntel", vendor);
        Assert.True(k.ReadU32(K.Results + 12) >= 1);
        Assert.Equal(0x633u, k.Cpu.Eax);
        uint features = k.Cpu.Edx;
        foreach (int bit in new[] { 0, 3, 4, 5, 8, 11, 13, 15, 24 }) Assert.True((features & (1u << bit)) != 0, $"feature bit {bit}");
        Assert.Equal(0u, features & (1u << 6));      // no PAE
    }

    [Fact]
    public void Rdtsc_and_the_tsc_msr_share_one_offset_and_a_p6_writes_only_the_low_dword()
    {
        var k = new K();
        k.H.Tsc = 1_000_000;
        k.Start(a =>
        {
            a.mov(ecx, 0x10);
            a.mov(eax, 0x7000_0000);
            a.mov(edx, 5);      // the high dword is cleared, not written (SDM vol. 3, 18.17, before family 0Fh model 3)
            a.wrmsr();
            a.rdtsc();
            a.mov(esi, eax);
            a.mov(edi, edx);
            a.rdmsr();          // ECX is still 0x10
            a.hlt();
        });
        k.RunToHalt();
        // RDTSC runs one position after WRMSR, and the bus counter advances one per position.
        Assert.Equal(0x7000_0001UL, ((ulong)k.Cpu.Edi << 32) | k.Cpu.Esi);
        Assert.Equal(0x7000_0004UL, ((ulong)k.Cpu.Edx << 32) | k.Cpu.Eax);
    }

    [Fact]
    public void Rdtsc_at_ring3_with_cr4_tsd_is_gp()
    {
        var k = new K();
        k.RecordingHandler(13, hasErrorCode: true);
        k.Assemble(K.UserCode, a => a.rdtsc());
        k.Start(a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 4);
            a.mov(cr4, eax);
            a.push((int)K.UserDs);
            a.push((int)K.UserStack);
            a.push(0x202);
            a.push((int)K.UserCs);
            a.push((int)K.UserCode);
            a.iretd();
        });
        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(K.UserCode, k.ReadU32(K.Record(13) + 8));
    }

    [Fact]
    public void Unknown_msr_and_cr4_pae_are_gp()
    {
        var k = new K();
        k.RecordingHandler(13, hasErrorCode: true);
        k.Start(a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x20); // PAE
            a.mov(cr4, eax);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(0u, k.Cpu.Cr4 & 0x20);

        var k2 = new K();
        k2.RecordingHandler(13, hasErrorCode: true);
        k2.Start(a =>
        {
            a.mov(ecx, 0x1B); // IA32_APIC_BASE: not implemented
            a.rdmsr();
            a.hlt();
        });
        k2.RunToHalt();
        Assert.Equal(14u, k2.ReadU32(K.Record(13)));
    }

    [Fact]
    public void Ltr_marks_the_tss_busy_and_str_sldt_read_back()
    {
        var k = new K();
        k.Start(a =>
        {
            a.str(bx);
            a.sldt(cx);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0x8B, k.H.Memory.Ram[K.GdtBase + 5 * 8 + 5]); // type 9 -> 0xB
        Assert.Equal((uint)K.TssSel, k.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0u, k.Cpu.Ecx & 0xFFFF);
    }

    [Fact]
    public void Lar_lsl_verr_verw_probe_descriptors_without_faulting()
    {
        var k = new K();
        k.SetDescriptor(6, 0x20_0000, 0xFFF, 0x92, big: true, granular: false); // 0x30: data, 4 KiB
        k.Start(a =>
        {
            a.mov(dx, 0x30);
            a.lar(eax, edx);
            a.lsl(ebx, edx);
            a.setz(__byte_ptr[K.Results]);
            a.verw(dx);
            a.setz(__byte_ptr[K.Results + 1]);
            a.mov(dx, K.KernelCs);
            a.verw(dx);                     // code is never writable
            a.setz(__byte_ptr[K.Results + 2]);
            a.verr(dx);                     // readable code
            a.setz(__byte_ptr[K.Results + 3]);
            a.mov(dx, 0x3F8);               // beyond the GDT
            a.lsl(ecx, edx);
            a.setz(__byte_ptr[K.Results + 4]);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0x0040_9200u, k.Cpu.Eax); // D/B and the access byte
        Assert.Equal(0xFFFu, k.Cpu.Ebx);
        Assert.Equal(new byte[] { 1, 1, 0, 1, 0 }, k.H.Memory.Ram.AsSpan((int)K.Results, 5).ToArray());
    }

    [Fact]
    public void Lar_is_invalid_in_real_mode()
    {
        var k = new K();
        k.WriteU32(6 * 4, 0x0000_3000); // IVT #UD -> 0000:3000
        k.Assemble(0x3000, a => a.hlt(), bitness: 16);
        k.Assemble(0x7000, a => a.lar(ax, bx), bitness: 16);
        k.H.LoadReal(0x7000);
        k.RunToHalt();
        Assert.Equal(0x3001u, k.Cpu.Eip);
    }

    [Fact]
    public void X87_escapes_raise_nm_when_cr0_em_is_set_and_probe_as_present_otherwise()
    {
        var k = new K();
        k.RecordingHandler(7, hasErrorCode: false);
        k.Start(a =>
        {
            a.mov(__word_ptr[K.Results], 0x5A5A);
            a.fninit();
            a.fnstsw(__word_ptr[K.Results]);       // the classic presence probe: an FPU stores 0
            a.mov(eax, cr0);
            a.or(eax, 4);                          // EM
            a.mov(cr0, eax);
            a.fninit();                            // #NM
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal((ushort)0, k.ReadU16(K.Results));
        Assert.Equal(8u, k.ReadU32(K.Record(7)));
    }

    [Fact]
    public void Wait_raises_nm_only_with_mp_and_ts()
    {
        var k = new K();
        k.RecordingHandler(7, hasErrorCode: false);
        k.Start(a =>
        {
            a.mov(eax, cr0);
            a.or(eax, 8);     // TS
            a.mov(cr0, eax);
            a.wait();         // TS without MP: nothing
            a.mov(ebx, 1);
            a.or(eax, 2);     // MP
            a.mov(cr0, eax);
            a.wait();         // #NM
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(1u, k.Cpu.Ebx);
        Assert.Equal(8u, k.ReadU32(K.Record(7)));
    }

    [Fact]
    public void Privileged_instructions_at_ring3_are_gp()
    {
        var k = new K();
        k.RecordingHandler(13, hasErrorCode: true);
        k.Assemble(K.UserCode, a => a.mov(eax, cr0));
        k.Start(a =>
        {
            a.push((int)K.UserDs);
            a.push((int)K.UserStack);
            a.push(0x202);
            a.push((int)K.UserCs);
            a.push((int)K.UserCode);
            a.iretd();
        });
        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(K.UserCode, k.ReadU32(K.Record(13) + 8));
    }

    [Fact]
    public void Sgdt_lidt_with_16_bit_operand_size_and_lmsw_cannot_clear_pe()
    {
        var k = new K();
        k.WriteU16(0x0F20, 0x1234);
        k.WriteU32(0x0F22, 0xAB12_3456);
        k.Start(a =>
        {
            a.sgdt(__[K.Results]);
            a.db(0x66);                 // 16-bit operand size: LIDT takes 24 bits of base
            a.lidt(__[0x0F20]);
            a.xor(eax, eax);
            a.lmsw(ax);                 // tries to clear PE
            a.smsw(ebx);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal((ushort)(K.GdtEntries * 8 - 1), k.ReadU16(K.Results));
        Assert.Equal(K.GdtBase, k.ReadU32(K.Results + 2));
        Assert.Equal((0x12_3456u, (ushort)0x1234), k.Cpu.Idtr);
        Assert.Equal(1u, k.Cpu.Ebx & 1);
        Assert.True(k.Cpu.ProtectedMode);
    }
}
