using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// Hardware task switching (Intel SDM vol. 3, ch. 7): JMP/CALL to a TSS and through task gates,
/// IDT task gates for interrupts and exceptions, IRET with NT = 1, the busy and NT rules, and the
/// faults of table 7-1 with the context they are delivered in. The kit's TSS (0x28) is task A,
/// the one the program starts in.
/// </summary>
public class TaskSwitchTests
{
    private const uint TssB = 0x3100, TssC = 0x3200, TssT = 0x3300, Ldt = 0x3800;
    private const ushort TssBSel = 0x30, TssCSel = 0x38, TssTSel = 0x40, TaskGateB = 0x48, LdtSel = 0x50;
    private const uint BCode = 0x4_0000, CCode = 0x4_1000, TCode = 0x4_2000, BStack = 0x7_0000, TStack = 0x6_F000;
    private const uint R = K.Results + 0x400;
    // 32-bit TSS fields the tests read or change.
    private const uint Link = 0x00, Cr3 = 0x1C, Eip = 0x20, Eflags = 0x24, Eax = 0x28, Ebx = 0x34, Esp = 0x38, Esi = 0x40, Edi = 0x44,
        EsSel = 0x48, CsSel = 0x4C, SsSel = 0x50, DsSel = 0x54, FsSel = 0x58, GsSel = 0x5C, LdtField = 0x60;
    private const uint NT = 1u << 14;

    /// <summary>Task B (32-bit TSS 0x30, ring 0, flat) at <see cref="BCode"/>, and the GDT task gate 0x48 to it.</summary>
    private static K NewKit()
    {
        var k = new K();
        k.SetTssDescriptor(6, TssB);
        k.WriteTss32(TssB, BCode, BStack);
        k.SetGdtGate(9, TssBSel, 0, type: 0x5);
        return k;
    }

    [Fact]
    public void Jmp_to_a_tss_saves_the_old_task_loads_the_new_one_and_moves_the_busy_bit()
    {
        var k = NewKit();
        k.WriteU32(TssB + Ebx, 0xB0B0_B0B0);
        k.WriteU16(TssB + Link, 0xFFFF);
        k.Assemble(BCode, a =>
        {
            a.str(ax);
            a.mov(__word_ptr[R], ax);
            a.pushfd();
            a.pop(ecx);
            a.mov(edx, cr0);
            a.movzx(ebp, __word_ptr[TssB + Link]);
            a.hlt();
        });
        Label after = default;
        k.Assemble(0x1_8000, a =>
        {
            a.mov(ebx, 0xA1A1_A1A1);
            a.mov(esi, 0xA2A2_A2A2);
            a.jmp(TssBSel, 0x1234); // the offset is ignored
            after = a.CreateLabel();
            a.Label(ref after);
            a.hlt();
        }, out var code);
        k.Start(a => a.jmp(0x1_8000ul));

        k.RunToHalt();
        // The old task's state went to its TSS (SDM 7.3 step 7).
        Assert.Equal(K.At(code, after), k.ReadU32(K.TssBase + Eip));
        Assert.Equal(0xA1A1_A1A1u, k.ReadU32(K.TssBase + Ebx));
        Assert.Equal(0xA2A2_A2A2u, k.ReadU32(K.TssBase + Esi));
        Assert.Equal(K.KernelStack, k.ReadU32(K.TssBase + Esp));
        Assert.Equal((uint)K.KernelCs, k.ReadU32(K.TssBase + CsSel));
        Assert.Equal((uint)K.KernelDs, k.ReadU32(K.TssBase + SsSel));
        Assert.Equal(2u, k.ReadU32(K.TssBase + Eflags) & 2);
        // JMP: the old task is no longer busy, the new one is, and no back link is written.
        Assert.Equal(0x89, k.AccessByte(5));
        Assert.Equal(0x8B, k.AccessByte(6));
        Assert.Equal(0xFFFFu, k.Cpu.Ebp);
        Assert.Equal(TssBSel, k.ReadU16(R));
        Assert.Equal(0u, k.Cpu.Ecx & NT);
        Assert.Equal(8u, k.Cpu.Edx & 8); // CR0.TS
        // The new task's registers came from its TSS.
        Assert.Equal(0xB0B0_B0B0u, k.Cpu.Ebx);
        Assert.Equal(0u, k.Cpu.Esi);
        Assert.Equal(BStack, k.Cpu.Esp);
    }

    [Fact]
    public void Call_through_a_task_gate_nests_the_task_and_iret_returns_along_the_back_link()
    {
        var k = NewKit();
        Label bIret = default;
        k.Assemble(BCode, a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.pushfd();
            a.pop(eax);
            a.mov(__dword_ptr[R], eax);
            a.movzx(eax, __word_ptr[TssB + Link]);
            a.mov(__dword_ptr[R + 4], eax);
            a.str(ax);
            a.mov(__word_ptr[R + 8], ax);
            a.mov(eax, 0xB0B0);
            a.mov(edi, 0xB1B1_B1B1);
            a.iretd();
            bIret = a.CreateLabel();
            a.Label(ref bIret);
            a.jmp(top); // the next CALL resumes here
        }, out var bCode);
        k.Start(a =>
        {
            a.mov(esi, 0x5A5A_5A5A);
            a.mov(eax, 0x1111_1111);
            a.call(TaskGateB, 0);
            a.mov(ebx, eax);
            a.pushfd();
            a.pop(ecx);
            a.str(dx);
            a.hlt();
        });

        k.RunToHalt();
        // In B: NT set, back link = A, TR = B; A stayed busy.
        Assert.Equal(NT, k.ReadU32(R) & NT);
        Assert.Equal((uint)K.TssSel, k.ReadU32(R + 4));
        Assert.Equal(TssBSel, k.ReadU16(R + 8));
        // Back in A: its registers were reloaded from its TSS, B is free again, A busy.
        Assert.Equal(0x1111_1111u, k.Cpu.Ebx);
        Assert.Equal(0x5A5A_5A5Au, k.Cpu.Esi);
        Assert.Equal(0u, k.Cpu.Ecx & NT);
        Assert.Equal((uint)K.TssSel, k.Cpu.Edx & 0xFFFF);
        Assert.Equal(0x8B, k.AccessByte(5));
        Assert.Equal(0x89, k.AccessByte(6));
        // B's state at its IRET was saved, with NT cleared in the EFLAGS image (SDM 7.3 step 6).
        Assert.Equal(0xB1B1_B1B1u, k.ReadU32(TssB + Edi));
        Assert.Equal(K.At(bCode, bIret), k.ReadU32(TssB + Eip));
        Assert.Equal(0u, k.ReadU32(TssB + Eflags) & NT);
    }

    [Fact]
    public void Double_fault_through_an_idt_task_gate_runs_a_handler_task_that_fixes_the_faulting_task_and_returns()
    {
        var k = NewKit();
        k.SetTssDescriptor(8, TssT);
        k.WriteTss32(TssT, TCode, TStack);
        k.SetTaskGate(8, TssTSel);
        // #GP's handler is in a segment that is not present: #NP while delivering #GP is a double fault.
        k.SetDescriptor(11, 0, 0xFFFFF, 0x1A, big: true, granular: true);
        k.SetGate(13, K.Handlers, selector: 0x58);
        k.Assemble(TCode, a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.pop(eax);                                  // #DF's error code, on this task's stack
            a.mov(__dword_ptr[R], eax);
            a.mov(__dword_ptr[R + 4], esp);
            a.pushfd();
            a.pop(eax);
            a.mov(__dword_ptr[R + 8], eax);
            a.movzx(eax, __word_ptr[TssT + Link]);
            a.mov(__dword_ptr[R + 12], eax);
            a.mov(eax, __dword_ptr[K.TssBase + Eip]);    // where the faulting task stopped
            a.mov(__dword_ptr[R + 16], eax);
            a.mov(__dword_ptr[K.TssBase + Eax], (uint)K.KernelDs); // the fix: a valid selector in its EAX
            a.iretd();
            a.jmp(top);
        });
        Label faulting = default;
        k.Assemble(0x1_8000, a =>
        {
            a.mov(eax, 0x3FBu); // beyond the GDT
            faulting = a.CreateLabel();
            a.Label(ref faulting);
            a.mov(ds, ax);
            a.mov(ebx, 0x600D);
            a.hlt();
        }, out var code);
        k.Start(a => a.jmp(0x1_8000ul));

        k.RunToHalt();
        Assert.Equal(0u, k.ReadU32(R));                  // #DF's error code is 0 ...
        Assert.Equal(TStack, k.ReadU32(R + 4));          // ... and was pushed as a dword on T's stack
        Assert.Equal(NT, k.ReadU32(R + 8) & NT);
        Assert.Equal((uint)K.TssSel, k.ReadU32(R + 12));
        Assert.Equal(K.At(code, faulting), k.ReadU32(R + 16));
        // IRET went back to A, which retried the MOV with the fixed selector and went on.
        Assert.Equal(0x600Du, k.Cpu.Ebx);
        Assert.Equal(K.KernelDs, k.Cpu.GetSelector(SegmentRegister.DS));
        Assert.Equal(0x8B, k.AccessByte(5));
        Assert.Equal(0x89, k.AccessByte(8));
        Assert.NotEqual(0u, k.Cpu.Cr0 & 8);
    }

    [Fact]
    public void Jmp_to_the_running_task_and_call_to_a_task_in_the_nested_chain_are_gp_with_its_selector()
    {
        var k = NewKit();
        k.RecordingHandler(13, hasErrorCode: true);
        Label jmp = default;
        k.Assemble(0x1_8000, a =>
        {
            jmp = a.CreateLabel();
            a.Label(ref jmp);
            a.jmp(K.TssSel, 0);
            a.hlt();
        }, out var code);
        k.Start(a => a.jmp(0x1_8000ul));
        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal((uint)K.TssSel, k.ReadU32(K.Record(13) + 4));
        Assert.Equal(K.At(code, jmp), k.ReadU32(K.Record(13) + 8));
        Assert.Equal(0x8B, k.AccessByte(5));

        // A CALLs B, and B CALLs A, which is busy: #GP(A) in B's context.
        var k2 = NewKit();
        k2.RecordingHandler(13, hasErrorCode: true);
        Label call = default;
        k2.Assemble(BCode, a =>
        {
            call = a.CreateLabel();
            a.Label(ref call);
            a.call(K.TssSel, 0);
            a.hlt();
        }, out var bCode);
        k2.Start(a => a.call(TssBSel, 0));
        k2.RunToHalt();
        Assert.Equal((uint)K.TssSel, k2.ReadU32(K.Record(13) + 4));
        Assert.Equal(K.At(bCode, call), k2.ReadU32(K.Record(13) + 8));
        Assert.Equal(0x8B, k2.AccessByte(5));
        Assert.Equal(0x8B, k2.AccessByte(6));
    }

    [Theory]
    [InlineData((ushort)TssBSel, 10, TssBSel)]   // the back link names an available TSS: not a task to return to
    [InlineData((ushort)0x34, 10, 0x34)]         // in the LDT
    [InlineData((ushort)0x3F8, 10, 0x3F8)]       // beyond the GDT
    [InlineData((ushort)K.KernelDs, 10, K.KernelDs)] // not a TSS at all
    [InlineData((ushort)0x58, 11, 0x58)]         // a busy TSS, not present
    public void Iret_with_nt_checks_the_back_link(ushort link, int vector, int errorCode)
    {
        var k = NewKit();
        k.SetDescriptor(11, TssC, 0x67, 0x0B, big: false, granular: false); // 0x58: busy 32-bit TSS, P = 0
        foreach (int v in (ReadOnlySpan<int>)[10, 11, 13]) k.RecordingHandler(v, hasErrorCode: true);
        Label iret = default;
        k.Assemble(0x1_8000, a =>
        {
            a.mov(__word_ptr[K.TssBase + Link], link);
            a.pushfd();
            a.or(__dword_ptr[esp], (int)NT);
            a.popfd();
            iret = a.CreateLabel();
            a.Label(ref iret);
            a.iretd();
            a.hlt();
        }, out var code);
        k.Start(a => a.jmp(0x1_8000ul));

        k.RunToHalt();
        Assert.Equal((uint)vector + 1, k.ReadU32(K.Record(vector)));
        Assert.Equal((uint)errorCode, k.ReadU32(K.Record(vector) + 4));
        Assert.Equal(K.At(code, iret), k.ReadU32(K.Record(vector) + 8));
        Assert.Equal(0x8B, k.AccessByte(5)); // nothing was released
    }

    public static TheoryData<string> EntryFaults => new(EntryFaultTable.Keys);

    private sealed record EntryFault(Action<K> Setup, ushort Target, int Vector, uint ErrorCode);

    // Faults before the commit point: delivered in task A at the JMP, with nothing changed.
    private static readonly Dictionary<string, EntryFault> EntryFaultTable = new()
    {
        ["32-bit TSS limit below 0x67"] = new(k => k.SetTssDescriptor(6, TssB, limit: 0x66), TssBSel, 10, TssBSel),
        ["16-bit TSS limit below 0x2B"] = new(k => k.SetTssDescriptor(6, TssB, limit: 0x2A, tss32: false), TssBSel, 10, TssBSel),
        ["TSS not present"] = new(k => k.SetTssDescriptor(6, TssB, present: false), TssBSel, 11, TssBSel),
        ["TSS selector RPL above its DPL"] = new(k => { }, TssBSel | 3, 13, TssBSel),
        ["task gate RPL above its DPL"] = new(k => { }, TaskGateB | 3, 13, TaskGateB),
        ["task gate not present"] = new(k => k.SetGdtGate(9, TssBSel, 0, type: 0x5, present: false), TaskGateB, 11, TaskGateB),
        ["task gate names the LDT"] = new(k => k.SetGdtGate(9, 0x34, 0, type: 0x5), TaskGateB, 13, 0x34),
        ["task gate names a data segment"] = new(k => k.SetGdtGate(9, K.KernelDs, 0, type: 0x5), TaskGateB, 13, K.KernelDs),
        ["task gate names a busy TSS"] = new(k => k.SetGdtGate(9, K.TssSel, 0, type: 0x5), TaskGateB, 13, K.TssSel),
        ["task gate names a not-present TSS"] = new(k => k.SetTssDescriptor(6, TssB, present: false), TaskGateB, 11, TssBSel),
    };

    [Theory]
    [MemberData(nameof(EntryFaults))]
    public void Faults_before_the_commit_point_are_delivered_in_the_old_task_with_nothing_changed(string name)
    {
        var c = EntryFaultTable[name];
        var k = NewKit();
        c.Setup(k);
        foreach (int v in (ReadOnlySpan<int>)[10, 11, 13]) k.RecordingHandler(v, hasErrorCode: true);
        k.WriteU32(K.TssBase + Eip, 0x5EED);
        Label jmp = default;
        k.Assemble(0x1_8000, a =>
        {
            jmp = a.CreateLabel();
            a.Label(ref jmp);
            a.jmp(c.Target, 0);
            a.hlt();
        }, out var code);
        k.Start(a => a.jmp(0x1_8000ul));

        k.RunToHalt();
        Assert.Equal((uint)c.Vector + 1, k.ReadU32(K.Record(c.Vector)));
        Assert.Equal(c.ErrorCode, k.ReadU32(K.Record(c.Vector) + 4));
        Assert.Equal(K.At(code, jmp), k.ReadU32(K.Record(c.Vector) + 8));
        Assert.Equal(0x5EEDu, k.ReadU32(K.TssBase + Eip)); // the old task was not saved
        Assert.Equal(0x8B, k.AccessByte(5));
        Assert.Equal(0, k.AccessByte(6) & 2);
        Assert.Equal(0u, k.Cpu.Cr0 & 8);
    }

    [Fact]
    public void A_task_gate_in_the_ldt_switches_tasks_but_a_tss_descriptor_in_the_ldt_is_gp()
    {
        var k = NewKit();
        k.SetDescriptor(10, Ldt, 0x17, 0x82, big: false, granular: false);
        // LDT entry 1: a task gate to B; entry 2: B's TSS descriptor itself, which must be in the GDT.
        k.WriteU32(Ldt + 8, (uint)TssBSel << 16);
        k.WriteU32(Ldt + 12, 0x8500);
        k.WriteU32(Ldt + 16, 0x0000_0067 | (TssB << 16));
        k.WriteU32(Ldt + 20, 0x0000_8900);
        k.RecordingHandler(13, hasErrorCode: true);
        k.Assemble(BCode, a =>
        {
            a.str(bx);
            a.jmp((ushort)0x14, 0); // the TSS descriptor in the LDT
        });
        k.Start(a =>
        {
            a.mov(ax, LdtSel);
            a.lldt(ax);
            a.jmp((ushort)0x0C, 0);
        });
        k.WriteU32(TssB + LdtField, LdtSel);

        k.RunToHalt();
        Assert.Equal((uint)TssBSel, k.Cpu.Ebx & 0xFFFF);
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(0x14u, k.ReadU32(K.Record(13) + 4));
    }

    [Fact]
    public void A_new_tss_on_an_unmapped_page_page_faults_before_the_old_task_is_saved()
    {
        var k = NewKit();
        const uint unmapped = 0x7000;
        k.SetTssDescriptor(6, unmapped);
        k.WriteTss32(unmapped, BCode, BStack);
        k.BuildIdentityPaging();
        k.WriteU32(K.PageTable0 + (unmapped >> 12) * 4, 0);
        k.RecordingHandler(14, hasErrorCode: true);
        k.WriteU32(K.TssBase + Eip, 0x5EED);
        k.Start(a =>
        {
            a.mov(eax, K.PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, 0x8000_0000);
            a.mov(cr0, eax);
            a.jmp(TssBSel, 0);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(15u, k.ReadU32(K.Record(14)));
        Assert.Equal(0u, k.ReadU32(K.Record(14) + 4)); // not present, read, supervisor
        Assert.Equal(unmapped, k.Cpu.Cr2);
        Assert.Equal(0x5EEDu, k.ReadU32(K.TssBase + Eip));
        Assert.Equal(0x8B, k.AccessByte(5));
        Assert.Equal(0x89, k.AccessByte(6));
    }

    public static TheoryData<string> LoadFaults => new(LoadFaultTable.Keys);

    private sealed record LoadFault(Action<K> Setup, int Vector, uint ErrorCode);

    // Faults after the commit point (SDM table 7-1, P6 order), delivered in task B through a task gate to T.
    private static readonly Dictionary<string, LoadFault> LoadFaultTable = new()
    {
        ["LDT selector names a data segment"] = new(k => k.WriteU32(TssB + LdtField, K.KernelDs), 10, K.KernelDs),
        ["LDT selector in the LDT"] = new(k => k.WriteU32(TssB + LdtField, LdtSel | 4), 10, LdtSel | 4),
        ["LDT not present"] = new(k =>
        {
            k.SetDescriptor(10, Ldt, 0x17, 0x02, big: false, granular: false);
            k.WriteU32(TssB + LdtField, LdtSel);
        }, 10, LdtSel),
        ["CS RPL differs from the code segment's DPL"] = new(k => k.WriteU32(TssB + CsSel, K.KernelCs | 3), 10, K.KernelCs),
        ["SS null"] = new(k => k.WriteU32(TssB + SsSel, 0), 10, 0),
        ["SS read-only"] = new(k => k.WriteU32(TssB + SsSel, 0x60), 10, 0x60),
        ["SS not present"] = new(k => k.WriteU32(TssB + SsSel, 0x68), 12, 0x68),
        ["SS DPL not the new CPL"] = new(k => k.WriteU32(TssB + SsSel, K.UserDs), 10, K.UserDs & 0xFFFC),
        ["SS RPL not the new CPL"] = new(k => k.WriteU32(TssB + SsSel, K.KernelDs | 3), 10, K.KernelDs),
        ["CS null"] = new(k => k.WriteU32(TssB + CsSel, 0), 10, 0),
        ["CS a data segment"] = new(k => k.WriteU32(TssB + CsSel, K.KernelDs), 10, K.KernelDs),
        ["CS not present"] = new(k => k.WriteU32(TssB + CsSel, 0x70), 11, 0x70),
        ["DS beyond the GDT"] = new(k => k.WriteU32(TssB + DsSel, 0x3F8), 10, 0x3F8),
        ["DS execute-only code"] = new(k => k.WriteU32(TssB + DsSel, 0x78), 10, 0x78),
        ["DS not present"] = new(k => k.WriteU32(TssB + DsSel, 0x68), 11, 0x68),
        ["GS DPL below CPL in a ring-3 task"] = new(k =>
        {
            k.WriteU32(TssB + CsSel, K.UserCs);
            k.WriteU32(TssB + SsSel, K.UserDs);
            foreach (uint f in (ReadOnlySpan<uint>)[DsSel, EsSel, FsSel]) k.WriteU32(TssB + f, K.UserDs);
        }, 10, K.KernelDs),
        // The order of table 7-1 when more than one thing is wrong.
        ["SS and CS not present: SS first"] = new(k =>
        {
            k.WriteU32(TssB + SsSel, 0x68);
            k.WriteU32(TssB + CsSel, 0x70);
        }, 12, 0x68),
        ["LDT and CS invalid: LDT first"] = new(k =>
        {
            k.WriteU32(TssB + LdtField, K.KernelDs);
            k.WriteU32(TssB + CsSel, 0);
        }, 10, K.KernelDs),
        ["CS not present and DS invalid: CS first"] = new(k =>
        {
            k.WriteU32(TssB + CsSel, 0x70);
            k.WriteU32(TssB + DsSel, 0x3F8);
        }, 11, 0x70),
        ["DS not present and ES invalid: validity of all data segments first"] = new(k =>
        {
            k.WriteU32(TssB + DsSel, 0x68);
            k.WriteU32(TssB + EsSel, 0x3F8);
        }, 10, 0x3F8),
    };

    [Theory]
    [MemberData(nameof(LoadFaults))]
    public void Faults_after_the_commit_point_are_delivered_in_the_new_task(string name)
    {
        var c = LoadFaultTable[name];
        var k = NewKit();
        k.SetDescriptor(10, Ldt, 0x17, 0x82, big: false, granular: false);          // 0x50: LDT
        k.SetDescriptor(12, 0, 0xFFFFF, 0x90, big: true, granular: true);           // 0x60: read-only data
        k.SetDescriptor(13, 0, 0xFFFFF, 0x12, big: true, granular: true);           // 0x68: data, P = 0
        k.SetDescriptor(14, 0, 0xFFFFF, 0x1A, big: true, granular: true);           // 0x70: code, P = 0
        k.SetDescriptor(15, 0, 0xFFFFF, 0x98, big: true, granular: true);           // 0x78: execute-only code
        // #TS, #NP and #SS go to task T, the configuration the SDM recommends for #TS.
        k.SetTssDescriptor(8, TssT);
        k.WriteTss32(TssT, TCode, TStack);
        foreach (int v in (ReadOnlySpan<int>)[10, 11, 12]) k.SetTaskGate(v, TssTSel);
        k.Assemble(TCode, a =>
        {
            a.pop(eax);
            a.mov(__dword_ptr[R], eax);
            a.movzx(eax, __word_ptr[TssT + Link]);
            a.mov(__dword_ptr[R + 4], eax);
            a.mov(__dword_ptr[R + 8], 1);
            a.hlt();
        });
        k.WriteU32(TssB + Eip, BCode);
        c.Setup(k);
        k.Start(a =>
        {
            a.jmp(TssBSel, 0);
            a.hlt();
        });

        k.RunToHalt();
        Assert.Equal(1u, k.ReadU32(R + 8));
        Assert.Equal(c.ErrorCode, k.ReadU32(R));
        // The switch to B was committed: T's back link is B, the JMP released A, B is busy.
        Assert.Equal((uint)TssBSel, k.ReadU32(R + 4));
        Assert.Equal(0x89, k.AccessByte(5));
        Assert.Equal(0x8B, k.AccessByte(6));
        Assert.NotEqual(0u, k.Cpu.Cr0 & 8);
        // B's state, saved when #x switched to T, has B's first instruction as the place to resume.
        Assert.Equal(BCode, k.ReadU32(TssB + Eip));
    }

    [Fact]
    public void Int_n_through_an_idt_task_gate_to_a_16_bit_tss_loads_and_saves_the_16_bit_format()
    {
        var k = NewKit();
        k.SetTssDescriptor(7, TssC, limit: 0x2B, tss32: false);
        k.SetDescriptor(11, CCode, 0xFFFF, 0x9A, big: false, granular: false); // 0x58: 16-bit ring-0 code
        k.SetTaskGate(0x50, TssCSel);
        // 16-bit TSS: IP 0, FLAGS 2, AX 0x1234, SP 0xF000, ES CS SS DS, no LDT.
        k.H.Memory.Load(TssC, new byte[0x2C]);
        k.WriteU16(TssC + 0x0E, 0);
        k.WriteU16(TssC + 0x10, 2);
        k.WriteU16(TssC + 0x12, 0x1234);
        k.WriteU16(TssC + 0x1A, 0xF000);
        k.WriteU16(TssC + 0x22, K.KernelDs);
        k.WriteU16(TssC + 0x24, 0x58);
        k.WriteU16(TssC + 0x26, K.KernelDs);
        k.WriteU16(TssC + 0x28, K.KernelDs);
        const uint r = 0x5400; // reachable with 16-bit addressing
        Label cIret = default;
        k.AssembleAt(CCode, 0, a =>
        {
            a.mov(__word_ptr[r], ax);
            a.mov(__dword_ptr[r + 4], eax);
            a.mov(ax, __word_ptr[(uint)TssC]);
            a.mov(__word_ptr[r + 2], ax);
            a.mov(ax, fs);
            a.mov(__word_ptr[r + 8], ax);
            a.pushfd();
            a.pop(eax);
            a.mov(__dword_ptr[r + 12], eax);
            a.mov(__dword_ptr[r + 16], esp);
            a.mov(bx, 0xC0C0);
            a.iret();
            cIret = a.CreateLabel();
            a.Label(ref cIret);
            a.hlt();
        }, out var cCode, bitness: 16);
        k.Start(a =>
        {
            a.mov(eax, 0xFFFF_FFFF);
            a.mov(ebx, 0x1234_5678);
            a.mov(ecx, 0xFFFF_FFFF);
            a.@int(0x50);
            a.mov(ecx, ebx);
            a.hlt();
        });

        k.RunToHalt();
        Assert.Equal((ushort)0x1234, k.ReadU16(r));
        Assert.Equal(K.TssSel, k.ReadU16(r + 2));            // the back link
        Assert.Equal(0x1234u, k.ReadU32(r + 4));             // upper halves cleared by a 16-bit load
        Assert.Equal((ushort)0, k.ReadU16(r + 8));           // no FS in a 16-bit TSS: null
        Assert.Equal(NT | 2, k.ReadU32(r + 12));              // FLAGS from the TSS with NT set, nothing above bit 15
        Assert.Equal(0xF000u, k.ReadU32(r + 16));
        // Back in A, from its 32-bit TSS; C's state went to its 16-bit TSS.
        Assert.Equal(0x1234_5678u, k.Cpu.Ecx);
        Assert.Equal(0xFFFF_FFFFu, k.Cpu.Eax);
        Assert.Equal((ushort)0xC0C0, k.ReadU16(TssC + 0x18));
        Assert.Equal((ushort)K.At(cCode, cIret), k.ReadU16(TssC + 0x0E));
        Assert.Equal(0x81, k.AccessByte(7));
        Assert.Equal(0x8B, k.AccessByte(5));
    }

    [Fact]
    public void A_switch_loads_cr3_with_a_tlb_flush_and_the_new_tasks_ldt()
    {
        var k = NewKit();
        const uint pd2 = 0x10_3000, pt2 = 0x10_4000, page = 0x5_0000;
        k.BuildIdentityPaging();
        for (uint i = 0; i < 1024; i++)
        {
            k.WriteU32(pt2 + i * 4, (i << 12) | 7);
            k.WriteU32(pd2 + i * 4, 0);
        }
        k.WriteU32(pt2 + (page >> 12) * 4, (page + 0x1000) | 7); // B sees the next physical page there
        k.WriteU32(pd2, pt2 | 7);
        k.WriteU32(page, 0xAAAA);
        k.WriteU32(page + 0x1000, 0xBBBB);
        // B's LDT holds one data segment at the shared linear page; B's DS names it (TI = 1).
        k.SetDescriptor(10, Ldt, 0x0F, 0x82, big: false, granular: false);
        k.WriteU32(Ldt + 8, 0x0000_FFFF | (page << 16));
        k.WriteU32(Ldt + 12, ((page >> 16) & 0xFF) | 0x0000_9200);
        k.WriteTss32(TssB, BCode, BStack, ds: 0x0C, cr3: pd2, ldt: LdtSel);
        k.Assemble(BCode, a =>
        {
            a.mov(eax, __dword_ptr.es[page]);
            a.mov(ebx, __dword_ptr[0]);
            a.mov(ecx, cr3);
            a.mov(edx, cr0);
            a.sldt(si);
            a.hlt();
        });
        k.Start(a =>
        {
            a.mov(eax, K.PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, 0x8000_0000);
            a.mov(cr0, eax);
            a.mov(edi, __dword_ptr[page]); // A's translation of the page is in the TLB now
            a.jmp(TssBSel, 0);
        });

        k.RunToHalt();
        Assert.Equal(0xAAAAu, k.ReadU32(K.TssBase + Edi)); // A's view, saved in its TSS
        Assert.Equal(0xBBBBu, k.Cpu.Eax);
        Assert.Equal(0xBBBBu, k.Cpu.Ebx);
        Assert.Equal(pd2, k.Cpu.Ecx);
        Assert.Equal(0x8000_0008u, k.Cpu.Edx & 0x8000_0008);
        Assert.Equal((uint)LdtSel, k.Cpu.Esi & 0xFFFF);
        Assert.NotEqual(0, k.H.Memory.Ram[Ldt + 8 + 5] & 1); // the load set the accessed bit in the LDT
        Assert.Equal(0u, k.ReadU32(K.TssBase + Cr3));         // CR3 is not saved in the old TSS
    }

    [Fact]
    public void The_debug_trap_bit_of_the_new_tss_raises_db_before_its_first_instruction()
    {
        var k = NewKit();
        k.WriteTss32(TssB, BCode, BStack, debugTrap: true);
        k.Assemble(BCode, a =>
        {
            a.mov(ecx, 0x1111);
            a.hlt();
        });
        k.Assemble(K.Handlers, a =>
        {
            a.mov(eax, dr6);
            a.mov(ebx, __dword_ptr[esp]);
            a.str(dx);
            a.hlt();
        });
        k.SetGate(1, K.Handlers);
        k.Start(a =>
        {
            a.xor(ecx, ecx);
            a.jmp(TssBSel, 0);
        });
        k.RunToHalt();
        Assert.NotEqual(0u, k.Cpu.Eax & 0x8000); // DR6.BT
        Assert.Equal(BCode, k.Cpu.Ebx);          // the return address is B's first instruction, not yet run
        Assert.Equal(0u, k.Cpu.Ecx);
        Assert.Equal((uint)TssBSel, k.Cpu.Edx & 0xFFFF);
    }
}
