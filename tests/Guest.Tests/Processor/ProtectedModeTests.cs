using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

public class ProtectedModeTests
{
    [Fact]
    public void Real_mode_enters_protected_mode_through_a_gdt_and_a_far_jump()
    {
        var k = new K();
        uint pm32 = 0x9000;
        k.Assemble(pm32, a =>
        {
            a.mov(ax, K.KernelDs);
            a.mov(ds, ax);
            a.mov(ss, ax);
            a.mov(esp, 0x8_0000u);
            a.mov(__dword_ptr[0x20_0000], 0x1234_5678u); // above 1 MiB: only reachable with a 32-bit segment
            a.hlt();
        });
        k.Assemble(0x7C00, a =>
        {
            a.cli();
            a.lgdt(__[K.GdtrPointer]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(K.KernelCs, pm32);
        }, bitness: 16);
        k.H.LoadReal(0x7C00);

        Assert.Equal(CpuExit.Halted, k.RunToHalt());
        Assert.True(k.Cpu.ProtectedMode);
        Assert.Equal(K.KernelCs, k.Cpu.GetSelector(SegmentRegister.CS));
        Assert.True(k.Cpu.GetSegment(SegmentRegister.CS).Big);
        Assert.Equal(0x1234_5678u, k.ReadU32(0x20_0000));
        // The loads set the accessed bit of the code and data descriptors in the GDT.
        Assert.NotEqual(0, k.H.Memory.Ram[K.GdtBase + 8 + 5] & 1);
        Assert.NotEqual(0, k.H.Memory.Ram[K.GdtBase + 16 + 5] & 1);
    }

    [Fact]
    public void Data_segment_limit_violation_is_gp_with_error_code_zero_and_restartable_eip()
    {
        var k = new K();
        k.SetDescriptor(6, 0x20_0000, 0xFFF, 0x92, big: true, granular: false); // 0x30: 4 KiB data segment
        k.RecordingHandler(13, hasErrorCode: true);
        uint faulting = 0;
        k.Start(a =>
        {
            a.mov(ax, 0x30);
            a.mov(fs, ax);
            a.mov(eax, __dword_ptr.fs[0xFFC]); // the last dword inside the limit
            a.mov(ebx, 0x1111u);
            a.mov(ecx, __dword_ptr.fs[0xFFD]); // one byte past the limit
            a.mov(ebx, 0x2222u);
            a.hlt();
        });
        // Find the faulting instruction by decoding (its address depends on the prologue).
        faulting = FindInstruction(k, Code.Mov_r32_rm32, occurrence: 0); // the first is EAX, A1 moffs

        k.RunToHalt();
        uint r = K.Record(13);
        Assert.Equal(14u, k.ReadU32(r));
        Assert.Equal(0u, k.ReadU32(r + 4));
        Assert.Equal(faulting, k.ReadU32(r + 8));
        Assert.Equal(0x1111u, k.Cpu.Ebx); // nothing after the fault ran
    }

    [Fact]
    public void Loading_a_selector_beyond_the_gdt_limit_is_gp_with_the_selector()
    {
        var k = new K();
        k.RecordingHandler(13, hasErrorCode: true);
        k.Start(a =>
        {
            a.mov(ax, 0x3FB); // index 127, RPL 3: far beyond the 16-entry GDT
            a.mov(gs, ax);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(0x3F8u, k.ReadU32(K.Record(13) + 4));
    }

    [Fact]
    public void Not_present_data_segment_is_np_with_the_selector()
    {
        var k = new K();
        k.SetDescriptor(7, 0, 0xFFFFF, 0x12, big: true, granular: true); // 0x38: data, P = 0
        k.RecordingHandler(11, hasErrorCode: true);
        k.Start(a =>
        {
            a.mov(ax, 0x38);
            a.mov(es, ax);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(12u, k.ReadU32(K.Record(11)));
        Assert.Equal(0x38u, k.ReadU32(K.Record(11) + 4));
        Assert.Equal(K.KernelDs, k.Cpu.GetSelector(SegmentRegister.ES));
    }

    [Fact]
    public void Ring3_via_iret_and_back_through_an_interrupt_gate_on_the_tss_stack()
    {
        var k = new K();
        k.RecordingHandler(0x80, hasErrorCode: false);
        k.SetGate(0x80, K.Handlers + 0x80 * 0x80, dpl: 3);
        uint intAt = 0;
        k.Assemble(K.UserCode, a =>
        {
            a.mov(ebx, 0x5555u);
            a.@int(0x80);
            a.jmp(K.UserCode); // never reached
        });
        intAt = K.UserCode + 5;
        k.Start(a =>
        {
            a.push((int)K.UserDs);          // SS
            a.push((int)K.UserStack);       // ESP
            a.push(0x202);             // EFLAGS: IF
            a.push((int)K.UserCs);          // CS
            a.push((int)K.UserCode);        // EIP
            a.iretd();
        });

        k.RunToHalt();
        uint r = K.Record(0x80);
        Assert.Equal(0x81u, k.ReadU32(r));
        Assert.Equal(intAt + 2, k.ReadU32(r + 8));           // EIP after INT 0x80
        Assert.Equal((uint)K.UserCs, k.ReadU32(r + 12));     // CS
        Assert.Equal(0x202u, k.ReadU32(r + 16) & 0x3FFFFF);  // EFLAGS as ring 3 had them
        // ESP and SS of ring 3 are above EIP/CS/EFLAGS on the ring-0 stack from the TSS.
        Assert.Equal(K.UserStack, k.ReadU32(K.KernelStack - 8));
        Assert.Equal((uint)K.UserDs, k.ReadU32(K.KernelStack - 4));
        Assert.Equal(K.KernelStack - 20, k.Cpu.Esp);
        Assert.Equal(0, k.Cpu.Cpl);
        Assert.Equal(0x5555u, k.Cpu.Ebx); // the handler itself uses EAX
        // IRET to ring 3 nulled the ring-0 data segments; the interrupt did not reload them.
        Assert.Equal(0, k.Cpu.GetSelector(SegmentRegister.DS));
        Assert.Equal(0, k.Cpu.GetSelector(SegmentRegister.ES));
        // The interrupt gate cleared IF.
        Assert.Equal(0u, k.Cpu.Eflags & 0x200);
    }

    [Fact]
    public void Iret_at_ring3_cannot_change_iopl_or_if()
    {
        var k = new K();
        k.Assemble(K.UserCode, a =>
        {
            // EFLAGS with IOPL 3 and IF clear, returning to ring 3 at UserCode + 0x100.
            a.push(0x3002);
            a.push((int)K.UserCs);
            a.push((int)(K.UserCode + 0x100));
            a.iretd();
        });
        k.Assemble(K.UserCode + 0x100, a => a.@int(0x80));
        k.RecordingHandler(0x80, hasErrorCode: false);
        k.SetGate(0x80, K.Handlers + 0x80 * 0x80, dpl: 3);
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
        uint flags = k.ReadU32(K.Record(0x80) + 16);
        Assert.Equal(0x81u, k.ReadU32(K.Record(0x80)));
        Assert.Equal(0u, flags & 0x3000);   // IOPL stayed 0
        Assert.Equal(0x200u, flags & 0x200); // IF stayed set (CPL 3 > IOPL 0)
    }

    [Fact]
    public void Far_call_and_retf_at_the_same_level_and_to_a_conforming_segment()
    {
        var k = new K();
        k.SetDescriptor(8, 0, 0xFFFFF, 0x9E, big: true, granular: true); // 0x40: conforming code, DPL 0
        uint callee = 0x40000;
        k.Assemble(callee, a =>
        {
            a.mov(ebx, 0xC0DEu);
            a.retf();
        });
        k.Start(a =>
        {
            a.call(K.KernelCs, callee);
            a.mov(ecx, ebx);
            a.call(0x40, callee);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0xC0DEu, k.Cpu.Ecx);
        Assert.Equal(K.KernelCs, k.Cpu.GetSelector(SegmentRegister.CS));
        Assert.Equal(K.KernelStack, k.Cpu.Esp);
    }

    [Fact]
    public void Retf_to_an_outer_level_pops_ss_esp_and_nulls_inner_data_segments()
    {
        var k = new K();
        k.RecordingHandler(0x80, hasErrorCode: false);
        k.SetGate(0x80, K.Handlers + 0x80 * 0x80, dpl: 3);
        k.Assemble(K.UserCode, a => a.@int(0x80));
        k.Start(a =>
        {
            a.push((int)K.UserDs);
            a.push((int)(K.UserStack - 0x10));
            a.push(0); // two dwords of parameters
            a.push(0);
            a.push((int)K.UserCs);
            a.push((int)K.UserCode);
            a.retf((ushort)8); // releases 8 bytes of parameters on both stacks
        });
        // The parameters sit between CS and the outer SS:ESP.
        k.RunToHalt();
        Assert.Equal(0x81u, k.ReadU32(K.Record(0x80)));
        Assert.Equal(K.UserStack - 0x10 + 8, k.ReadU32(K.KernelStack - 8)); // ring-3 ESP as the interrupt saw it
        Assert.Equal(0, k.Cpu.GetSelector(SegmentRegister.DS));
    }

    [Fact]
    public void Real_mode_far_call_retf_and_iret()
    {
        var k = new K();
        k.Assemble(0x2_0010, a =>  // 2000:0010
        {
            a.mov(bx, 0x77);
            a.retf();
        }, bitness: 16);
        // IVT entry 0x40 -> 3000:0000: an IRET that must restore the flags pushed by INT.
        k.WriteU32(0x40 * 4, 0x3000_0000);
        k.Assemble(0x3_0000, a => a.iret(), bitness: 16);
        k.Assemble(0x1000, a =>
        {
            a.call(0x2000, 0x0010);
            a.stc();
            a.@int(0x40);
            a.hlt();
        }, bitness: 16);
        k.H.LoadReal(0x1000);
        k.RunToHalt();
        Assert.Equal(0x77u, k.Cpu.Ebx & 0xFFFF);
        Assert.Equal((ushort)0, k.Cpu.GetSelector(SegmentRegister.CS));
        Assert.Equal(1u, k.Cpu.Eflags & 1);
        Assert.Equal(0x8000u, k.Cpu.Esp);
    }

    /// <summary>Address of the <paramref name="occurrence"/>-th (0-based) instruction with <paramref name="code"/> in the test program.</summary>
    internal static uint FindInstruction(K k, Code code, int occurrence)
    {
        var reader = new ByteArrayCodeReader(k.H.Memory.Ram, (int)K.Code, 4096);
        var decoder = Decoder.Create(32, reader, K.Code);
        int seen = 0;
        while (true)
        {
            decoder.Decode(out var ins);
            if (ins.Code == code && seen++ == occurrence) return (uint)ins.IP;
            if (ins.Code == Code.INVALID) throw new InvalidOperationException("instruction not found");
        }
    }
}
