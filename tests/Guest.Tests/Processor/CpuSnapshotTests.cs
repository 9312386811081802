using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

public class CpuSnapshotTests
{
    private const uint DataPage = 0x4_0000;

    /// <summary>A machine mid-way through a paged ring-3 loop that keeps calling the kernel with INT 0x80.</summary>
    private static K BusyMachine()
    {
        var k = new K();
        k.BuildIdentityPaging();
        k.WriteU32(DataPage, 7);
        const uint kernelCall = K.Handlers;
        k.Assemble(kernelCall, a =>
        {
            a.add(__dword_ptr.ss[K.Results], eax);
            a.iretd();
        });
        k.SetGate(0x80, kernelCall, dpl: 3);
        k.Assemble(K.UserCode, a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.inc(eax);
            a.add(eax, __dword_ptr[DataPage]);
            a.imul(ebx, eax, 3);
            a.@int(0x80);
            a.jmp(top);
        });
        k.Start(a =>
        {
            a.mov(eax, K.PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x8000_0000));
            a.mov(cr0, eax);
            a.mov(ax, K.UserDs);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.xor(eax, eax);
            a.push((int)K.UserDs);
            a.push((int)K.UserStack);
            a.push(0x202);
            a.push((int)K.UserCs);
            a.push((int)K.UserCode);
            a.iretd();
        });
        return k;
    }

    private static byte[] Save(Cpu cpu)
    {
        var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) cpu.SaveState(w);
        return ms.ToArray();
    }

    private static void Load(Cpu cpu, byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state));
        cpu.LoadState(r);
    }

    [Fact]
    public void Save_load_save_is_byte_identical_and_execution_continues_identically()
    {
        var a = BusyMachine();
        a.Cpu.Run(1000);
        Assert.Equal(3, a.Cpu.Cpl);
        byte[] first = Save(a.Cpu);
        Assert.Equal(Cpu.StateVersion, first[0]);

        var b = new K();
        a.H.Memory.Ram.CopyTo(b.H.Memory.Ram, 0);
        Load(b.Cpu, first);
        byte[] second = Save(b.Cpu);
        Assert.Equal(first, second);
        Assert.Equal(a.Cpu.StateHash(), b.Cpu.StateHash());

        a.Cpu.Run(5000);
        b.Cpu.Run(5000);
        Assert.Equal(5000UL, b.Cpu.Position);
        Assert.Equal(Save(a.Cpu), Save(b.Cpu));
        Assert.Equal(a.Cpu.StateHash(), b.Cpu.StateHash());
        Assert.Equal(a.H.Memory.Ram, b.H.Memory.Ram);
        Assert.NotEqual(0u, a.ReadU32(K.Results));
    }

    [Fact]
    public void Loading_into_a_cpu_with_warm_caches_discards_them()
    {
        // The target CPU has run other code at the same addresses with other mappings: after the
        // load it must not use its old TLB entries or decoded instructions.
        var a = BusyMachine();
        a.Cpu.Run(1000);
        byte[] state = Save(a.Cpu);
        byte[] ram = (byte[])a.H.Memory.Ram.Clone();

        // b runs different user code, and the page its loop reads maps to another physical page.
        var b = BusyMachine();
        b.WriteU32(K.PageTable0 + (K.UserCode >> 12) * 4, 0x3_1000 | 7);
        b.WriteU32(K.PageTable0 + (DataPage >> 12) * 4, 0x3_2000 | 7);
        b.WriteU32(0x3_2000, 9);
        b.Assemble(0x3_1000, x =>
        {
            var top = x.CreateLabel();
            x.Label(ref top);
            x.dec(eax);
            x.add(eax, __dword_ptr[DataPage]);
            x.@int(0x80);
            x.jmp(top);
        });
        b.Cpu.Run(777);
        Assert.NotEqual(Save(a.Cpu), Save(b.Cpu));
        ram.CopyTo(b.H.Memory.Ram, 0);
        b.Cpu.InvalidateAllCode(); // the copy bypassed the CPU, as a snapshot restore of RAM would signal
        Load(b.Cpu, state);

        a.Cpu.Run(3000);
        b.Cpu.Run(3000);
        Assert.Equal(Save(a.Cpu), Save(b.Cpu));
        Assert.Equal(a.H.Memory.Ram, b.H.Memory.Ram);
    }

    [Fact]
    public void State_hash_changes_with_any_register_and_with_hidden_segment_state()
    {
        var k = BusyMachine();
        k.Cpu.Run(500);
        ulong h0 = k.Cpu.StateHash();
        Assert.Equal(h0, k.Cpu.StateHash());
        k.Cpu.Edi ^= 1;
        ulong h1 = k.Cpu.StateHash();
        Assert.NotEqual(h0, h1);
        k.Cpu.Edi ^= 1;
        Assert.Equal(h0, k.Cpu.StateHash());
        var ss = k.Cpu.GetSegment(SegmentRegister.SS);
        ss.Base += 0x1000;
        k.Cpu.SetSegment(SegmentRegister.SS, ss);
        Assert.NotEqual(h0, k.Cpu.StateHash());
    }

    [Fact]
    public void The_x87_state_is_saved_restored_and_hashed()
    {
        var k = BusyMachine();
        k.Cpu.Run(500);
        var cpu = k.Cpu;
        // Every x87 field, set to something other than its reset value.
        cpu.FpuControlWord = 0x0A7F;
        cpu.FpuStatusWord = 0x3AA1;
        cpu.FpuTagWord = 0x5A0F;
        for (int i = 0; i < 8; i++) cpu.SetFpuRegister(i, new VmFt.Guest.Processor.X87.Float80(0x8000_0000_0000_0001UL * (ulong)(i + 1), (ushort)(0x3FF0 + i)));
        cpu.FpuInstructionPointer = (0x1B, 0x1234_5678);
        cpu.FpuDataPointer = (0x23, 0x9ABC_DEF0);
        cpu.FpuOpcode = 0x5D9;
        cpu.IgnoreNumericError = true;
        byte[] saved = Save(cpu);
        ulong hash = cpu.StateHash();

        var fresh = new K().Cpu;
        Load(fresh, saved);
        Assert.Equal(saved, Save(fresh));
        Assert.Equal(hash, fresh.StateHash());
        Assert.Equal(0x0A7F, fresh.FpuControlWord);
        Assert.Equal(0x3AA1, fresh.FpuStatusWord);
        Assert.Equal(cpu.FpuTagWord, fresh.FpuTagWord); // which registers are empty; the others are tagged from their contents
        for (int i = 0; i < 8; i++) Assert.Equal(cpu.GetFpuRegister(i), fresh.GetFpuRegister(i));
        Assert.Equal(((ushort)0x1B, 0x1234_5678u), fresh.FpuInstructionPointer);
        Assert.Equal(((ushort)0x23, 0x9ABC_DEF0u), fresh.FpuDataPointer);
        Assert.Equal(0x5D9, fresh.FpuOpcode);
        Assert.True(fresh.IgnoreNumericError);

        // One bit of one register, or of a pointer, changes the hash.
        var r3 = cpu.GetFpuRegister(3);
        cpu.SetFpuRegister(3, new VmFt.Guest.Processor.X87.Float80(r3.Significand ^ 1, r3.SignExponent));
        Assert.NotEqual(hash, cpu.StateHash());
        cpu.SetFpuRegister(3, r3);
        Assert.Equal(hash, cpu.StateHash());
        cpu.FpuOpcode = 0x5D8;
        Assert.NotEqual(hash, cpu.StateHash());
    }

    [Fact]
    public void Unknown_version_is_rejected_with_the_reason()
    {
        var k = BusyMachine();
        byte[] state = Save(k.Cpu);
        state[0] = 99;
        var e = Assert.Throws<InvalidDataException>(() => Load(new K().Cpu, state));
        Assert.Contains("version 99", e.Message);
    }
}
