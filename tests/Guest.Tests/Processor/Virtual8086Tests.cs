using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// Virtual-8086 mode (Intel SDM vol. 3, ch. 20) with a ring-0 monitor: entry by IRET and by a task
/// switch, real-mode addressing at CPL 3, the IOPL-sensitive instructions, the I/O permission
/// bitmap, and interrupts and exceptions to ring-0 handlers with the virtual-8086 frame.
/// </summary>
public class Virtual8086Tests
{
    private const uint VM = 1u << 17, IF = 1u << 9;
    // The 8086 program: code at 4000:0000, stack at 5000:FFF0, data at 6000:0000.
    private const ushort CodeSeg = 0x4000, StackSeg = 0x5000, DataSeg = 0x6000;
    private const uint CodeBase = 0x4_0000, DataBase = 0x6_0000;
    private const ushort Ring1Cs = 0x31, ConformingCs = 0x68, Gate16Cs = 0x70;
    private const uint Gate16Base = 0x2_8000;

    private static K NewKit()
    {
        var k = new K();
        k.SetDescriptor(6, 0, 0xFFFFF, 0xBA, big: true, granular: true);             // 0x30 ring-1 code
        k.SetDescriptor(13, 0, 0xFFFFF, 0x9E, big: true, granular: true);            // 0x68 conforming ring-0 code
        k.SetDescriptor(14, Gate16Base, 0xFFFF, 0x9A, big: true, granular: false);   // 0x70 ring-0 code for a 16-bit gate
        k.RecordingHandler(13, hasErrorCode: true);
        return k;
    }

    /// <summary>Ring 0 builds the frame of SDM figure 20-4 and IRETs into the 8086 program at 4000:0000.</summary>
    private static void StartV86(K k, uint eflags, ushort ds = DataSeg, ushort es = 0x7300, ushort fs = 0x7100, ushort gs = 0x7000)
    {
        k.Start(a =>
        {
            a.push((int)gs);
            a.push((int)fs);
            a.push((int)ds);
            a.push((int)es);
            a.push((int)StackSeg);
            a.push(0xFFF0);
            a.push((int)(eflags | VM));
            a.push((int)CodeSeg);
            a.push(0);
            a.iretd();
        });
    }

    private static AssemblerResult Program(K k, Action<Assembler> body, uint ip = 0)
    {
        k.AssembleAt(CodeBase + ip, ip, body, out var result, bitness: 16);
        return result;
    }

    /// <summary>A software-interrupt gate the 8086 program may use: DPL 3, to a recording handler.</summary>
    private static void UserVector(K k, int vector)
    {
        k.RecordingHandler(vector, hasErrorCode: false);
        k.SetGate(vector, K.Handlers + (uint)vector * 0x80, dpl: 3);
    }

    [Fact]
    public void Iret_at_cpl0_enters_virtual_8086_mode_and_a_cli_the_monitor_emulates_returns_to_it()
    {
        var k = NewKit();
        const uint count = K.Results + 0x3F0, records = K.Results + 0x400;
        // The monitor: records the frame and the data segments it was entered with; emulates CLI
        // (clears IF in the frame, steps over the opcode, IRETs back); halts on anything else.
        k.Assemble(0x2_9000, a =>
        {
            var stop = a.CreateLabel();
            a.mov(ebx, __dword_ptr.ss[count]);
            a.inc(__dword_ptr.ss[count]);
            a.shl(ebx, 6);
            a.add(ebx, records);
            for (int i = 0; i < 10; i++)
            {
                a.mov(ecx, __dword_ptr.ss[esp + i * 4]);
                a.mov(__dword_ptr.ss[ebx + i * 4], ecx);
            }
            a.mov(cx, ds);
            a.mov(__word_ptr.ss[ebx + 40], cx);
            a.mov(cx, es);
            a.mov(__word_ptr.ss[ebx + 42], cx);
            a.mov(cx, fs);
            a.mov(__word_ptr.ss[ebx + 44], cx);
            a.mov(cx, gs);
            a.mov(__word_ptr.ss[ebx + 46], cx);
            a.movzx(ecx, __word_ptr.ss[esp + 8]);   // CS of the 8086 program
            a.shl(ecx, 4);
            a.add(ecx, __dword_ptr.ss[esp + 4]);    // + IP
            a.movzx(ecx, __byte_ptr.ss[ecx]);
            a.cmp(ecx, 0xFA);
            a.jne(stop);
            a.and(__dword_ptr.ss[esp + 12], ~(int)IF);
            a.inc(__dword_ptr.ss[esp + 4]);
            a.add(esp, 4);                           // the error code
            a.iretd();
            a.Label(ref stop);
            a.hlt();
        });
        k.SetGate(13, 0x2_9000);
        Label cli = default, hlt = default;
        var code = Program(k, a =>
        {
            a.mov(ax, DataSeg);
            a.mov(ds, ax);
            a.mov(__word_ptr[0x10], 0x1234);  // 6000:0010
            a.mov(si, cs);
            a.mov(di, ss);
            cli = a.CreateLabel();
            a.Label(ref cli);
            a.cli();                           // IOPL 0: #GP(0) to the monitor
            a.mov(bp, 0x7777);
            hlt = a.CreateLabel();
            a.Label(ref hlt);
            a.hlt();                           // CPL 3: #GP(0)
        });
        StartV86(k, eflags: IF, ds: 0x7200);

        k.RunToHalt();
        Assert.Equal((ushort)0x1234, k.ReadU16(DataBase + 0x10));
        Assert.Equal((uint)CodeSeg, k.Cpu.Esi & 0xFFFF);
        Assert.Equal((uint)StackSeg, k.Cpu.Edi & 0xFFFF);
        Assert.Equal(0x7777u, k.Cpu.Ebp & 0xFFFF);   // the program went on after the emulated CLI
        Assert.Equal(2u, k.ReadU32(count));
        uint first = records, second = records + 64;
        Assert.Equal(0u, k.ReadU32(first));                     // error code 0
        Assert.Equal(K.At(code, cli), k.ReadU32(first + 4));    // IP of the CLI
        Assert.Equal((uint)CodeSeg, k.ReadU32(first + 8));
        Assert.Equal(VM | IF | 2, k.ReadU32(first + 12));       // EFLAGS as the program had them
        Assert.Equal(0xFFF0u, k.ReadU32(first + 16));
        Assert.Equal((uint)StackSeg, k.ReadU32(first + 20));
        Assert.Equal(0x7300u, k.ReadU32(first + 24));           // ES
        Assert.Equal((uint)DataSeg, k.ReadU32(first + 28));     // DS, as the program loaded it
        Assert.Equal(0x7100u, k.ReadU32(first + 32));           // FS
        Assert.Equal(0x7000u, k.ReadU32(first + 36));           // GS
        for (uint i = 0; i < 4; i++) Assert.Equal((ushort)0, k.ReadU16(first + 40 + i * 2)); // nulled for the monitor
        Assert.Equal(K.At(code, hlt), k.ReadU32(second + 4));
        Assert.Equal(VM | 2, k.ReadU32(second + 12));           // IF off: the monitor's IRET loaded its frame
        Assert.Equal(0, k.Cpu.Cpl);
        Assert.Equal(0u, k.Cpu.Eflags & VM);
    }

    public static TheoryData<string> SensitiveCases => new(SensitiveTable.Keys);

    private sealed record Sensitive(Action<Assembler> Body, int Iopl, int Vector, byte Opcode = 0);

    // Each body ends in INT3 (not IOPL-sensitive) when the instruction under test does not fault.
    private static readonly Dictionary<string, Sensitive> SensitiveTable = new()
    {
        ["CLI, IOPL 0"] = new(a => { a.cli(); a.int3(); }, 0, 13, 0xFA),
        ["STI, IOPL 0"] = new(a => { a.sti(); a.int3(); }, 0, 13, 0xFB),
        ["PUSHF, IOPL 0"] = new(a => { a.pushf(); a.int3(); }, 0, 13, 0x9C),
        ["PUSHFD, IOPL 0"] = new(a => { a.pushfd(); a.int3(); }, 0, 13, 0x66),
        ["POPF, IOPL 0"] = new(a => { a.push(0x0202); a.popf(); a.int3(); }, 0, 13, 0x9D),
        ["IRET, IOPL 0"] = new(a => { a.push(0x0202); a.push(CodeSeg); a.push(0x100); a.iret(); }, 0, 13, 0xCF),
        ["INT n, IOPL 0"] = new(a => a.db(0xCD, 0x40), 0, 13, 0xCD),
        ["INT 3 encoded as INT n, IOPL 0"] = new(a => a.db(0xCD, 0x03), 0, 13, 0xCD),
        ["INT3, IOPL 0: not sensitive"] = new(a => a.int3(), 0, 3),
        ["INTO with OF, IOPL 0: not sensitive"] = new(a => { a.mov(al, 0x7F); a.add(al, 1); a.into(); }, 0, 4),
        ["CLI, IOPL 3"] = new(a => { a.cli(); a.sti(); a.int3(); }, 3, 3),
        ["PUSHF and POPF, IOPL 3"] = new(a => { a.pushf(); a.popf(); a.pushfd(); a.popfd(); a.int3(); }, 3, 3),
        ["INT n, IOPL 3"] = new(a => a.db(0xCD, 0x40), 3, 0x40),
        ["IRET, IOPL 3"] = new(a => { a.push(0x3202); a.push(CodeSeg); a.push(0x100); a.iret(); }, 3, 3),
        ["HLT, IOPL 3: privileged"] = new(a => a.hlt(), 3, 13, 0xF4),
        ["MOV from CR0, IOPL 3: privileged"] = new(a => a.mov(eax, cr0), 3, 13, 0x0F),
        ["SLDT: not in virtual-8086 mode"] = new(a => a.sldt(ax), 3, 6, 0x0F),
    };

    [Theory]
    [MemberData(nameof(SensitiveCases))]
    public void Iopl_sensitive_instructions_fault_to_the_monitor_below_iopl_3(string name)
    {
        var c = SensitiveTable[name];
        var k = NewKit();
        k.RecordingHandler(6, hasErrorCode: false);
        foreach (int v in (ReadOnlySpan<int>)[3, 4, 0x40]) UserVector(k, v);
        Program(k, c.Body);
        Program(k, a => a.int3(), ip: 0x100); // where the IRETs go
        StartV86(k, eflags: (uint)c.Iopl << 12);

        k.RunToHalt();
        uint rec = K.Record(c.Vector);
        Assert.Equal((uint)c.Vector + 1, k.ReadU32(rec));
        foreach (int v in (ReadOnlySpan<int>)[3, 4, 6, 13, 0x40])
            if (v != c.Vector) Assert.Equal(0u, k.ReadU32(K.Record(v)));
        Assert.Equal((uint)CodeSeg, k.ReadU32(rec + 12));
        if (c.Vector is 13 or 6)
        {
            if (c.Vector == 13) Assert.Equal(0u, k.ReadU32(rec + 4));
            // A fault: the frame points at the instruction itself.
            Assert.Equal(c.Opcode, k.H.Memory.Ram[CodeBase + k.ReadU32(rec + 8)]);
        }
        // The IOPL the program ran with is in the frame; only the monitor could change it.
        Assert.Equal((uint)c.Iopl << 12, k.ReadU32(rec + 16) & 0x3000);
        Assert.Equal(VM, k.ReadU32(rec + 16) & VM);
    }

    [Fact]
    public void Int_n_with_iopl_3_reaches_the_ring0_handler_with_the_v86_frame_and_iret_returns_to_the_program()
    {
        var k = NewKit();
        UserVector(k, 3);
        const uint r = K.Results + 0x400;
        k.Assemble(0x2_9000, a =>
        {
            for (int i = 0; i < 9; i++)
            {
                a.mov(eax, __dword_ptr.ss[esp + i * 4]);
                a.mov(__dword_ptr.ss[r + (uint)i * 4], eax);
            }
            a.mov(__dword_ptr.ss[r + 36], esp);
            a.mov(ax, ds);
            a.mov(__word_ptr.ss[r + 40], ax);
            a.mov(ecx, 0xC0C0);
            a.iretd();                         // VM set in the popped EFLAGS, at CPL 0: back to the program
        });
        k.SetGate(0x30, 0x2_9000, dpl: 3);
        Label afterInt = default;
        var code = Program(k, a =>
        {
            a.@int(0x30);
            afterInt = a.CreateLabel();
            a.Label(ref afterInt);
            a.mov(di, cx);
            a.pushf();
            a.pop(si);
            a.cli();
            a.sti();
            // A real-mode style IRET inside the program: it cannot lower IOPL, but clears IF.
            a.push(0x0002);
            a.push(CodeSeg);
            a.push(0x100);
            a.iret();
        });
        Program(k, a =>
        {
            a.pushf();
            a.pop(bx);
            a.int3();
        }, ip: 0x100);
        StartV86(k, eflags: 0x3000 | IF);

        k.RunToHalt();
        Assert.Equal(K.At(code, afterInt), k.ReadU32(r));     // EIP after INT 0x30
        Assert.Equal((uint)CodeSeg, k.ReadU32(r + 4));
        Assert.Equal(VM | 0x3000 | IF | 2, k.ReadU32(r + 8));
        Assert.Equal(0xFFF0u, k.ReadU32(r + 12));
        Assert.Equal((uint)StackSeg, k.ReadU32(r + 16));
        Assert.Equal((uint)DataSeg, k.ReadU32(r + 24));        // DS in the frame
        Assert.Equal(K.KernelStack - 36, k.ReadU32(r + 36));   // nine dwords, no error code
        Assert.Equal((ushort)0, k.ReadU16(r + 40));
        Assert.Equal(0xC0C0u, k.Cpu.Edi & 0xFFFF);             // the program ran on after the handler's IRET
        Assert.Equal(0x3000u, k.Cpu.Esi & 0x3000);             // PUSHF at IOPL 3 shows IOPL 3
        Assert.Equal(4u, k.ReadU32(K.Record(3)));
        Assert.Equal(0x3002u, k.Cpu.Ebx & 0xFFFF);             // after its own IRET: IOPL still 3, IF clear
        Assert.Equal(VM | 0x3000, k.ReadU32(K.Record(3) + 16) & (VM | 0x3000 | IF));
    }

    public static TheoryData<string> IoCases => new(IoTable.Keys);

    private sealed record Io(bool V86, int Iopl, ushort Port, int Size, bool Allowed, bool String = false);

    // The bitmap allows port 0x80 and ports 0x84-0x87 (byte 0x10 of the map is 0x0E), nothing else;
    // it covers ports 0-0xFF and ends at the TSS limit.
    private static readonly Dictionary<string, Io> IoTable = new()
    {
        ["v86 byte to an allowed port"] = new(true, 0, 0x80, 1, true),
        ["v86 byte to a denied port"] = new(true, 0, 0x81, 1, false),
        ["v86 word over an allowed and a denied port"] = new(true, 0, 0x80, 2, false),
        ["v86 word over a denied and an allowed port"] = new(true, 0, 0x7F, 2, false),
        ["v86 dword over four allowed ports"] = new(true, 0, 0x84, 4, true),
        ["v86 dword crossing into the next map byte"] = new(true, 0, 0x86, 4, false),
        ["v86 byte beyond the map and the TSS limit"] = new(true, 0, 0x300, 1, false),
        ["v86 at IOPL 3 still uses the map"] = new(true, 3, 0x81, 1, false),
        ["v86 OUTSB to a denied port"] = new(true, 0, 0x81, 1, false, String: true),
        ["v86 OUTSB to an allowed port"] = new(true, 0, 0x80, 1, true, String: true),
        ["ring 3 at IOPL 0 byte to an allowed port"] = new(false, 0, 0x80, 1, true),
        ["ring 3 at IOPL 0 byte to a denied port"] = new(false, 0, 0x81, 1, false),
        ["ring 3 at IOPL 0 dword over four allowed ports"] = new(false, 0, 0x84, 4, true),
        ["ring 3 at IOPL 3 skips the map"] = new(false, 3, 0x81, 1, true),
    };

    [Theory]
    [MemberData(nameof(IoCases))]
    public void The_io_permission_bitmap_allows_one_port_and_faults_on_another(string name)
    {
        var c = IoTable[name];
        var k = NewKit();
        // The kit's TSS with a map at 0x68: 32 bytes for ports 0-0xFF, then the 0xFF byte the SDM asks for.
        k.SetTssDescriptor(5, K.TssBase, limit: 0x68 + 0x20);
        k.WriteU16(K.TssBase + 0x66, 0x68);
        k.H.Memory.Load(K.TssBase + 0x68, Enumerable.Repeat((byte)0xFF, 0x21).ToArray());
        k.H.Memory.Ram[K.TssBase + 0x68 + 0x10] = 0x0E;
        UserVector(k, 3);
        k.WriteU32(DataBase, 0x55);
        k.WriteU32(0x7_0000, 0x55);
        Label io = default;
        void Body(Assembler a)
        {
            a.mov(dx, c.Port);
            a.mov(eax, 0x55);
            if (c.V86) a.xor(si, si);
            else a.mov(esi, 0x7_0000);
            io = a.CreateLabel();
            a.Label(ref io);
            if (c.String) a.outsb(); // DS:SI (DS:ESI in 32-bit code)
            else if (c.Size == 1) a.@out(dx, al);
            else if (c.Size == 2) a.@out(dx, ax);
            else a.@out(dx, eax);
            a.int3();
        }
        AssemblerResult code;
        if (c.V86)
        {
            code = Program(k, Body);
            StartV86(k, eflags: (uint)c.Iopl << 12);
        }
        else
        {
            k.Assemble(K.UserCode, Body, out code);
            k.Start(a =>
            {
                a.push((int)K.UserDs);
                a.push((int)K.UserStack);
                a.push(c.Iopl << 12);
                a.push((int)K.UserCs);
                a.push((int)K.UserCode);
                a.iretd();
            });
        }

        k.RunToHalt();
        if (c.Allowed)
        {
            Assert.Equal(4u, k.ReadU32(K.Record(3)));
            Assert.Equal(new[] { (c.Port, c.Size, 0x55u) }, k.H.PortWrites);
        }
        else
        {
            Assert.Equal(14u, k.ReadU32(K.Record(13)));
            Assert.Equal(0u, k.ReadU32(K.Record(13) + 4));
            Assert.Equal(K.At(code, io), k.ReadU32(K.Record(13) + 8)); // the IN/OUT itself (a fault)
            Assert.Empty(k.H.PortWrites);
        }
    }

    public static TheoryData<string> HandlerCases => new(HandlerTable.Keys);

    private sealed record Handler(ushort Selector, bool Software, uint ErrorCode);

    // SDM INT n: from virtual-8086 mode an interrupt or trap gate must lead to non-conforming ring-0 code.
    private static readonly Dictionary<string, Handler> HandlerTable = new()
    {
        ["INT n to ring-1 code"] = new(Ring1Cs, true, Ring1Cs & 0xFFFC),
        ["INT n to conforming ring-0 code"] = new(ConformingCs, true, ConformingCs),
        ["INT n to ring-3 code"] = new(K.UserCs, true, K.UserCs & 0xFFFC),
        ["an exception to ring-1 code: EXT set"] = new(Ring1Cs, false, (Ring1Cs & 0xFFFC) | 1),
    };

    [Theory]
    [MemberData(nameof(HandlerCases))]
    public void An_interrupt_from_v86_to_a_handler_outside_ring_0_is_gp_with_its_selector(string name)
    {
        var c = HandlerTable[name];
        var k = NewKit();
        int vector = c.Software ? 0x31 : ExceptionVectors.InvalidOpcode;
        k.SetGate(vector, K.Handlers + 0x4000, selector: c.Selector, dpl: 3);
        Label at = default;
        var code = Program(k, a =>
        {
            at = a.CreateLabel();
            a.Label(ref at);
            if (c.Software) a.@int(0x31);
            else a.ud2();
        });
        StartV86(k, eflags: 0x3000);

        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(c.ErrorCode, k.ReadU32(K.Record(13) + 4));
        // The #GP is a fault of the delivery: its frame names the instruction that raised the event.
        Assert.Equal(K.At(code, at), k.ReadU32(K.Record(13) + 8));
        Assert.Equal(VM, k.ReadU32(K.Record(13) + 16) & VM);
    }

    [Fact]
    public void An_interrupt_from_v86_through_a_16_bit_gate_pushes_a_16_bit_frame()
    {
        // SDM vol. 2, INT n, INTERRUPT-FROM-VIRTUAL-8086-MODE: the pushes are 16 bits for a 16-bit
        // gate. The frame cannot hold VM, so such a handler cannot IRET back: it is legal but useless.
        var k = NewKit();
        k.Assemble(Gate16Base, a =>
        {
            a.mov(ebx, esp);
            a.mov(cx, ds);
            a.hlt();
        });
        k.SetGate(0x32, 0, selector: Gate16Cs, type: 0x6, dpl: 3);
        Label after = default;
        var code = Program(k, a =>
        {
            a.@int(0x32);
            after = a.CreateLabel();
            a.Label(ref after);
            a.hlt(); // not reached
        });
        StartV86(k, eflags: 0x3000 | IF);

        k.RunToHalt();
        Assert.Equal(K.KernelStack - 18, k.Cpu.Ebx);
        ushort[] frame = Enumerable.Range(0, 9).Select(i => k.ReadU16(K.KernelStack - 18 + (uint)i * 2)).ToArray();
        Assert.Equal([(ushort)K.At(code, after), CodeSeg, (ushort)(0x3000 | IF | 2), 0xFFF0, StackSeg, 0x7300, DataSeg, 0x7100, 0x7000], frame);
        Assert.Equal(0u, k.Cpu.Ecx & 0xFFFF);
        Assert.Equal(0u, k.Cpu.Eflags & (VM | IF)); // an interrupt gate
    }

    [Fact]
    public void The_8086_program_runs_at_cpl_3_so_supervisor_pages_fault_with_the_user_bit()
    {
        var k = NewKit();
        k.BuildIdentityPaging();
        k.WriteU32(K.PageTable0 + (DataBase >> 12) * 4, DataBase | 3); // present, writable, supervisor only
        k.RecordingHandler(14, hasErrorCode: true);
        Program(k, a =>
        {
            a.mov(__word_ptr[0], ax);
            a.int3();
        });
        k.Start(a =>
        {
            a.mov(eax, K.PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, 0x8000_0000);
            a.mov(cr0, eax);
            foreach (int v in (ReadOnlySpan<int>)[0x7000, 0x7100, DataSeg, 0x7300, StackSeg, 0xFFF0, (int)VM, CodeSeg, 0])
                a.push(v);
            a.iretd();
        });
        k.RunToHalt();
        Assert.Equal(15u, k.ReadU32(K.Record(14)));
        Assert.Equal(7u, k.ReadU32(K.Record(14) + 4)); // present, write, user
        Assert.Equal(DataBase, k.Cpu.Cr2);
    }

    [Fact]
    public void A_task_switch_to_a_tss_with_vm_set_enters_virtual_8086_mode()
    {
        var k = NewKit();
        const uint tssV = 0x3100, monitorStack = 0x8_F000;
        k.SetTssDescriptor(6, tssV, limit: 0x68 + 0x20);
        // The V86 task: real-mode selectors in the TSS, VM in its EFLAGS, its own ring-0 stack for the
        // monitor, and its own I/O bitmap allowing port 0x80 (the kit's TSS has none: all I/O faults there).
        k.WriteTss32(tssV, 0, 0xFFF0, cs: CodeSeg, ss: StackSeg, ds: DataSeg, es: 0x7300, fs: 0x7100, gs: 0x7000,
            eflags: VM, ss0Esp: monitorStack);
        k.H.Memory.Load(tssV + 0x68, Enumerable.Repeat((byte)0xFF, 0x21).ToArray());
        k.H.Memory.Ram[tssV + 0x68 + 0x10] = 0xFE;
        k.WriteU16(K.TssBase + 0x66, 0x68); // the kit's map starts past its limit: everything denied
        Label cli = default;
        var code = Program(k, a =>
        {
            a.mov(__word_ptr[0x20], 0x4321);
            a.mov(al, 0x99);
            a.@out(0x80, al);
            a.mov(bx, cs);
            cli = a.CreateLabel();
            a.Label(ref cli);
            a.cli();
        });
        k.Start(a => a.jmp(0x30, 0));

        k.RunToHalt();
        Assert.Equal((ushort)0x4321, k.ReadU16(DataBase + 0x20));
        Assert.Equal(new[] { ((ushort)0x80, 1, 0x99u) }, k.H.PortWrites);
        Assert.Equal((uint)CodeSeg, k.Cpu.Ebx & 0xFFFF);
        uint rec = K.Record(13);
        Assert.Equal(14u, k.ReadU32(rec));
        Assert.Equal(K.At(code, cli), k.ReadU32(rec + 8));
        Assert.Equal((uint)CodeSeg, k.ReadU32(rec + 12));
        Assert.Equal(VM | 2, k.ReadU32(rec + 16));
        // The monitor ran on the V86 task's SS0:ESP0, with the ten-dword frame below it.
        Assert.Equal((uint)StackSeg, k.ReadU32(monitorStack - 20));
        Assert.Equal(0x7000u, k.ReadU32(monitorStack - 4));
        Assert.Equal(0x8B, k.AccessByte(6));
    }
}
