using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// Far CALL and JMP through call gates (Intel SDM vol. 3, 5.8; vol. 2, CALL and JMP), and the far
/// RET back to the outer level (vol. 2, RET: RETURN-TO-OUTER-PRIVILEGE-LEVEL).
/// </summary>
public class CallGateTests
{
    // GDT entries beyond the kit's: ring-1 code and data, gates, 16-bit segments, a conforming segment.
    private const ushort Ring1Cs = 0x31, Ring1Ds = 0x39, Gate32 = 0x40, Gate16 = 0x48, Kernel16Cs = 0x50,
        User16Cs = 0x5B, User16Ss = 0x63, ConformingCs = 0x68, JumpGate = 0x70;
    private const uint GateHandler = 0x2_1000, Kernel16Base = 0x2_2000, User16Base = 0x3_0000, User16StackBase = 0x7_0000;
    private const uint Ring1Stack = 0x6_0000;

    private static K NewKit()
    {
        var k = new K();
        k.SetDescriptor(6, 0, 0xFFFFF, 0xBA, big: true, granular: true);               // 0x30 ring-1 code
        k.SetDescriptor(7, 0, 0xFFFFF, 0xB2, big: true, granular: true);               // 0x38 ring-1 data
        k.SetDescriptor(10, Kernel16Base, 0xFFFF, 0x9A, big: false, granular: false);  // 0x50 16-bit ring-0 code
        k.SetDescriptor(11, User16Base, 0xFFFF, 0xFA, big: false, granular: false);    // 0x58 16-bit ring-3 code
        k.SetDescriptor(12, User16StackBase, 0xFFFF, 0xF2, big: false, granular: false); // 0x60 16-bit ring-3 stack
        k.SetDescriptor(13, 0, 0xFFFFF, 0x9E, big: true, granular: true);              // 0x68 conforming code, DPL 0
        // SS1:ESP1 in the kit's TSS, for calls into ring 1.
        k.WriteU32(K.TssBase + 0x0C, Ring1Stack);
        k.WriteU32(K.TssBase + 0x10, Ring1Ds);
        k.RecordingHandler(0x80, hasErrorCode: false);
        k.SetGate(0x80, K.Handlers + 0x80 * 0x80, dpl: 3);
        return k;
    }

    /// <summary>Ring 0 drops to ring 3 at <paramref name="eip"/> through IRET, on <paramref name="ss"/>:<paramref name="esp"/>.</summary>
    private static void StartInRing3(K k, ushort cs = K.UserCs, uint eip = K.UserCode, ushort ss = K.UserDs, uint esp = K.UserStack)
    {
        k.Start(a =>
        {
            a.push((int)ss);
            a.push((int)esp);
            a.push(0x202);
            a.push((int)cs);
            a.push((int)eip);
            a.iretd();
        });
    }

    [Fact]
    public void Call_through_a_32_bit_gate_copies_dword_parameters_to_the_ring0_stack_and_retf_imm_returns_to_ring3()
    {
        var k = NewKit();
        k.SetGdtGate(8, K.KernelCs, GateHandler, type: 0xC, dpl: 3, count: 3);
        const uint r = K.Results + 0x400;
        k.Assemble(GateHandler, a =>
        {
            for (int i = 0; i < 7; i++)
            {
                // EIP, CS, the three parameters, the caller's ESP and SS.
                a.mov(eax, __dword_ptr.ss[esp + i * 4]);
                a.mov(__dword_ptr.ss[r + (uint)i * 4], eax);
            }
            a.mov(__dword_ptr.ss[r + 28], esp);
            a.mov(ax, cs);
            a.mov(__word_ptr.ss[r + 32], ax);
            a.mov(ax, ss);
            a.mov(__word_ptr.ss[r + 36], ax);
            // Segments the return to ring 3 must null (DPL 0 data) or keep (conforming code).
            a.mov(ax, K.KernelDs);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ax, ConformingCs);
            a.mov(gs, ax);
            a.retf(12);
        });
        Label after = default;
        k.Assemble(K.UserCode, a =>
        {
            a.mov(ax, K.UserDs);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(fs, ax);
            a.push(0x1111_1111);
            a.push(0x2222_2222);
            a.push(0x3333_3333);
            a.call((ushort)(Gate32 | 3), 0xDEAD); // the offset is the gate's, not this one
            after = a.CreateLabel();
            a.Label(ref after);
            a.mov(ebx, esp);
            a.xor(ecx, ecx);
            a.xor(edx, edx);
            a.xor(esi, esi);
            a.xor(edi, edi);
            a.mov(cx, ds);
            a.mov(dx, es);
            a.mov(si, fs);
            a.mov(di, gs);
            a.@int(0x80);
        }, out var user);
        StartInRing3(k);

        k.RunToHalt();
        Assert.Equal(0x81u, k.ReadU32(K.Record(0x80)));
        Assert.Equal(K.At(user, after), k.ReadU32(r));      // return EIP
        Assert.Equal((uint)K.UserCs, k.ReadU32(r + 4));      // return CS
        // The parameters keep their order: the last pushed is nearest the return address.
        Assert.Equal(0x3333_3333u, k.ReadU32(r + 8));
        Assert.Equal(0x2222_2222u, k.ReadU32(r + 12));
        Assert.Equal(0x1111_1111u, k.ReadU32(r + 16));
        Assert.Equal(K.UserStack - 12, k.ReadU32(r + 20));   // the caller's ESP, below its parameters
        Assert.Equal((uint)K.UserDs, k.ReadU32(r + 24));
        Assert.Equal(K.KernelStack - 28, k.ReadU32(r + 28)); // ESP0 from the TSS, 7 dwords pushed
        Assert.Equal(K.KernelCs, k.ReadU16(r + 32));
        Assert.Equal(K.KernelDs, k.ReadU16(r + 36));         // SS0 from the TSS

        // RETF 12 released the parameters on both stacks; DS and ES (DPL 0 data) are null in ring 3,
        // FS (ring-3 data) and GS (conforming code) survive.
        Assert.Equal(K.UserStack, k.Cpu.Ebx);
        Assert.Equal(0u, k.Cpu.Ecx);
        Assert.Equal(0u, k.Cpu.Edx);
        Assert.Equal((uint)K.UserDs, k.Cpu.Esi);
        Assert.Equal((uint)ConformingCs, k.Cpu.Edi);
        Assert.Equal((uint)K.UserCs, k.ReadU32(K.Record(0x80) + 12)); // INT 0x80 came from ring 3
    }

    [Fact]
    public void Call_through_a_16_bit_gate_copies_word_parameters_and_a_16_bit_retf_returns()
    {
        var k = NewKit();
        k.SetGdtGate(9, Kernel16Cs, 0x0100, type: 0x4, dpl: 3, count: 2);
        const uint r = K.Results + 0x400;
        k.AssembleAt(Kernel16Base + 0x100, 0x100, a =>
        {
            // The 32-bit SS0 stack: ESP addressing. IP, CS, two parameters, SP, SS: six words.
            for (int i = 0; i < 6; i++)
            {
                a.mov(ax, __word_ptr.ss[esp + i * 2]);
                a.mov(__word_ptr.ss[r + (uint)i * 2], ax);
            }
            a.mov(__dword_ptr.ss[r + 12], esp);
            a.mov(ax, cs);
            a.mov(__word_ptr.ss[r + 16], ax);
            a.retf(4);
        }, out _, bitness: 16);
        Label after = default;
        k.AssembleAt(User16Base, 0, a =>
        {
            a.push(0x1111);
            a.push(0x2222);
            a.call((ushort)(Gate16 | 3), 0);
            after = a.CreateLabel();
            a.Label(ref after);
            a.mov(bx, sp);
            a.mov(cx, ss);
            a.@int(0x80);
        }, out var user, bitness: 16);
        StartInRing3(k, cs: User16Cs, eip: 0, ss: User16Ss, esp: 0xFFF0);

        k.RunToHalt();
        Assert.Equal(0x81u, k.ReadU32(K.Record(0x80)));
        Assert.Equal((ushort)K.At(user, after), k.ReadU16(r));
        Assert.Equal((ushort)User16Cs, k.ReadU16(r + 2));
        Assert.Equal((ushort)0x2222, k.ReadU16(r + 4));
        Assert.Equal((ushort)0x1111, k.ReadU16(r + 6));
        Assert.Equal((ushort)0xFFEC, k.ReadU16(r + 8));      // the caller's SP
        Assert.Equal((ushort)User16Ss, k.ReadU16(r + 10));
        Assert.Equal(K.KernelStack - 12, k.ReadU32(r + 12)); // six words on the ring-0 stack
        Assert.Equal(Kernel16Cs, k.ReadU16(r + 16));
        Assert.Equal(0xFFF0u, k.Cpu.Ebx & 0xFFFF);           // RETF 4 released the two words
        Assert.Equal((uint)User16Ss, k.Cpu.Ecx & 0xFFFF);
    }

    [Fact]
    public void Jmp_through_a_call_gate_changes_cs_eip_without_pushing_or_changing_privilege()
    {
        var k = NewKit();
        const uint target = 0x4_0000;
        k.SetGdtGate(14, K.KernelCs, target, type: 0xC, dpl: 0);
        Label stop = default;
        k.Assemble(target, a =>
        {
            a.mov(ebx, esp);
            a.mov(cx, cs);
            stop = a.CreateLabel();
            a.Label(ref stop);
            a.hlt();
        }, out var code);
        k.Start(a =>
        {
            a.xor(ecx, ecx);
            a.jmp(JumpGate, 0x1234_5678); // the offset is the gate's
        });
        k.RunToHalt();
        Assert.Equal(K.At(code, stop) + 1, k.Cpu.Eip);
        Assert.Equal(K.KernelStack, k.Cpu.Ebx);
        Assert.Equal((uint)K.KernelCs, k.Cpu.Ecx);

        // From ring 3 through a DPL-3 gate to conforming ring-0 code: CPL stays 3, CS.RPL = 3.
        var k3 = NewKit();
        k3.SetGdtGate(14, ConformingCs, target, type: 0xC, dpl: 3);
        k3.Assemble(target, a =>
        {
            a.mov(ebx, esp);
            a.@int(0x80);
        });
        k3.Assemble(K.UserCode, a => a.jmp((ushort)(JumpGate | 3), 0));
        StartInRing3(k3);
        k3.RunToHalt();
        Assert.Equal(0x81u, k3.ReadU32(K.Record(0x80)));
        Assert.Equal((uint)(ConformingCs | 3), k3.ReadU32(K.Record(0x80) + 12));
        Assert.Equal(K.UserStack, k3.Cpu.Ebx);
    }

    [Fact]
    public void A_call_gate_in_the_ldt_works_like_one_in_the_gdt_and_a_plain_retf_returns_to_ring3()
    {
        var k = NewKit();
        const uint ldt = 0x3800;
        const ushort ldtSelector = 0x78, ldtGate = 0x0F; // LDT entry 1, TI = 1, RPL 3
        k.SetDescriptor(15, ldt, 0x0F, 0x82, big: false, granular: false);
        // Entry 1 of the LDT: a 32-bit call gate, DPL 3, no parameters, to ring 0.
        k.WriteU32(ldt + 8, (GateHandler & 0xFFFF) | ((uint)K.KernelCs << 16));
        k.WriteU32(ldt + 12, (GateHandler & 0xFFFF_0000) | 0xEC00);
        k.Assemble(GateHandler, a =>
        {
            a.mov(ax, cs);
            a.mov(__word_ptr.ss[K.Results + 0x400], ax);
            a.mov(__dword_ptr.ss[K.Results + 0x404], esp);
            a.retf();
        });
        k.Assemble(K.UserCode, a =>
        {
            a.call(ldtGate, 0);
            a.mov(ebx, esp);
            a.mov(cx, cs);
            a.@int(0x80);
        });
        k.Start(a =>
        {
            a.mov(ax, ldtSelector);
            a.lldt(ax);
            a.push((int)K.UserDs);
            a.push((int)K.UserStack);
            a.push(0x202);
            a.push((int)K.UserCs);
            a.push((int)K.UserCode);
            a.iretd();
        });

        k.RunToHalt();
        Assert.Equal(K.KernelCs, k.ReadU16(K.Results + 0x400));
        Assert.Equal(K.KernelStack - 16, k.ReadU32(K.Results + 0x404)); // SS, ESP, CS, EIP
        Assert.Equal(K.UserStack, k.Cpu.Ebx);
        Assert.Equal((uint)K.UserCs, k.Cpu.Ecx & 0xFFFF);
    }

    public static TheoryData<string> FaultCases => new(FaultCaseTable.Keys);

    private sealed record FaultCase(Action<K> Setup, int CallerCpl, bool Jump, ushort Selector, int Vector, uint ErrorCode);

    private static readonly Dictionary<string, FaultCase> FaultCaseTable = new()
    {
        ["gate DPL below CPL"] = new(k => k.SetGdtGate(8, K.KernelCs, GateHandler, 0xC, dpl: 0), 3, false, Gate32 | 3, 13, Gate32),
        ["gate selector RPL above gate DPL"] = new(k => k.SetGdtGate(8, K.KernelCs, GateHandler, 0xC, dpl: 0), 0, false, Gate32 | 3, 13, Gate32),
        ["gate not present"] = new(k => k.SetGdtGate(8, K.KernelCs, GateHandler, 0xC, dpl: 3, present: false), 3, false, Gate32 | 3, 11, Gate32),
        ["gate code selector null"] = new(k => k.SetGdtGate(8, 0, GateHandler, 0xC, dpl: 3), 3, false, Gate32 | 3, 13, 0),
        ["gate code selector beyond the GDT"] = new(k => k.SetGdtGate(8, 0x3F8, GateHandler, 0xC, dpl: 3), 3, false, Gate32 | 3, 13, 0x3F8),
        ["gate names a data segment"] = new(k => k.SetGdtGate(8, K.KernelDs, GateHandler, 0xC, dpl: 3), 3, false, Gate32 | 3, 13, K.KernelDs),
        ["target DPL above CPL"] = new(k => k.SetGdtGate(8, Ring1Cs, GateHandler, 0xC, dpl: 0), 0, false, Gate32, 13, Ring1Cs & 0xFFFC),
        ["target not present"] = new(k =>
        {
            k.SetDescriptor(9, 0, 0xFFFFF, 0x1A, big: true, granular: true); // 0x48: code, P = 0
            k.SetGdtGate(8, 0x48, GateHandler, 0xC, dpl: 3);
        }, 3, false, Gate32 | 3, 11, 0x48),
        ["JMP to an inner level"] = new(k => k.SetGdtGate(8, K.KernelCs, GateHandler, 0xC, dpl: 3), 3, true, Gate32 | 3, 13, K.KernelCs),
        ["TSS stack selector null"] = new(k => Ring1Gate(k, ss1: 0), 3, false, Gate32 | 3, 10, 0),
        ["TSS stack selector RPL not the new CPL"] = new(k => Ring1Gate(k, ss1: Ring1Ds & 0xFFFC), 3, false, Gate32 | 3, 10, Ring1Ds & 0xFFFC),
        ["TSS stack DPL not the new CPL"] = new(k => Ring1Gate(k, ss1: K.KernelDs | 1), 3, false, Gate32 | 3, 10, K.KernelDs),
        ["TSS stack read-only"] = new(k =>
        {
            k.SetDescriptor(9, 0, 0xFFFFF, 0xB0, big: true, granular: true); // 0x48: ring-1 data, read-only
            Ring1Gate(k, ss1: 0x49);
        }, 3, false, Gate32 | 3, 10, 0x48),
        ["TSS stack not present"] = new(k =>
        {
            k.SetDescriptor(9, 0, 0xFFFFF, 0x32, big: true, granular: true); // 0x48: ring-1 data, P = 0
            Ring1Gate(k, ss1: 0x49);
        }, 3, false, Gate32 | 3, 12, 0x48),
        ["no room on the new stack for the parameters"] = new(k =>
        {
            k.SetDescriptor(9, Ring1Stack - 0x100, 0x1F, 0xB2, big: true, granular: false); // 0x48: 32 bytes
            Ring1Gate(k, ss1: 0x49, esp1: 0x14); // 20 bytes below ESP1; SS:ESP, 2 parameters, CS:EIP need 24
        }, 3, false, Gate32 | 3, 12, 0x48),
        ["gate offset beyond the target limit"] = new(k =>
        {
            k.SetDescriptor(9, 0, 0xFFF, 0xBA, big: true, granular: false); // 0x48: ring-1 code, 4 KiB
            k.SetGdtGate(8, 0x49, 0x2000, 0xC, dpl: 3, count: 2);
        }, 3, false, Gate32 | 3, 13, 0),
        ["TSS too short for SS1:ESP1"] = new(k =>
        {
            k.SetTssDescriptor(5, K.TssBase, limit: 0x0F); // SS0:ESP0 still inside, SS1 beyond
            Ring1Gate(k, ss1: Ring1Ds);
        }, 3, false, Gate32 | 3, 10, K.TssSel),
    };

    /// <summary>A DPL-3 gate with two parameters into ring-1 code, whose stack the TSS gives as <paramref name="ss1"/>:<paramref name="esp1"/>.</summary>
    private static void Ring1Gate(K k, ushort ss1, uint esp1 = Ring1Stack)
    {
        k.SetGdtGate(8, Ring1Cs, GateHandler, 0xC, dpl: 3, count: 2);
        k.WriteU32(K.TssBase + 0x0C, esp1);
        k.WriteU32(K.TssBase + 0x10, ss1);
    }

    [Theory]
    [MemberData(nameof(FaultCases))]
    public void Call_gate_faults_carry_the_selector_the_sdm_names_and_restart_the_instruction(string name)
    {
        var c = FaultCaseTable[name];
        var k = NewKit();
        foreach (int v in (ReadOnlySpan<int>)[10, 11, 12, 13]) k.RecordingHandler(v, hasErrorCode: true);
        k.Assemble(GateHandler, a => a.hlt()); // never reached in these cases
        c.Setup(k);
        Label transfer = default;
        void Caller(Assembler a)
        {
            a.push(1);
            a.push(2);
            transfer = a.CreateLabel();
            a.Label(ref transfer);
            if (c.Jump) a.jmp(c.Selector, 0);
            else a.call(c.Selector, 0);
            a.mov(ebx, 0xBAD);
            a.hlt();
        }
        AssemblerResult code;
        if (c.CallerCpl == 3)
        {
            k.Assemble(K.UserCode, Caller, out code);
            StartInRing3(k);
        }
        else
        {
            k.Assemble(0x1_8000, Caller, out code);
            k.Start(a => a.jmp(0x1_8000ul));
        }

        k.RunToHalt();
        uint rec = K.Record(c.Vector);
        Assert.Equal((uint)c.Vector + 1, k.ReadU32(rec));
        Assert.Equal(c.ErrorCode, k.ReadU32(rec + 4));
        Assert.Equal(K.At(code, transfer), k.ReadU32(rec + 8)); // the fault names the CALL/JMP itself
        Assert.NotEqual(0xBADu, k.Cpu.Ebx);
        if (c.CallerCpl == 3)
        {
            // Delivered from ring 3, with the caller's ESP as it was before the transfer.
            Assert.Equal((uint)K.UserCs, k.ReadU32(rec + 12));
            Assert.Equal(K.UserStack - 8, k.ReadU32(K.KernelStack - 8));
        }
        foreach (int v in (ReadOnlySpan<int>)[10, 11, 12, 13])
            if (v != c.Vector) Assert.Equal(0u, k.ReadU32(K.Record(v)));
    }
}
