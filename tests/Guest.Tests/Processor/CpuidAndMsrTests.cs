using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;
using K = VmFt.Guest.Tests.Processor.SystemTestKit;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// CPUID and the model-specific registers as an i686 kernel probes them: a Pentium II "Klamath"
/// (family 6, model 3, stepping 3) without extended leaves, BIOS_SIGN_ID read the way Linux reads
/// the microcode revision, and a clean #GP(0) for every MSR that does not exist.
/// </summary>
public class CpuidAndMsrTests
{
    private const uint Code = 0x1_8000, Fixup = 0x1_8100;

    [Fact]
    public void Cpuid_describes_a_pentium_ii_klamath_and_leaves_above_the_maximum_return_leaf_2()
    {
        var k = new K();
        uint[] leaves = [0, 1, 2, 3, 0x8000_0000, 0x8000_0004];
        k.Start(a =>
        {
            for (int i = 0; i < leaves.Length; i++)
            {
                a.mov(eax, leaves[i]);
                a.cpuid();
                uint at = K.Results + (uint)i * 16;
                a.mov(__dword_ptr[at], eax);
                a.mov(__dword_ptr[at + 4], ebx);
                a.mov(__dword_ptr[at + 8], ecx);
                a.mov(__dword_ptr[at + 12], edx);
            }
            a.hlt();
        });
        k.RunToHalt();
        uint[] Leaf(int i) => Enumerable.Range(0, 4).Select(r => k.ReadU32(K.Results + (uint)(i * 16 + r * 4))).ToArray();

        var leaf0 = Leaf(0);
        Assert.Equal(2u, leaf0[0]);
        string vendor = string.Concat(new[] { leaf0[1], leaf0[3], leaf0[2] }.Select(v => System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(v))));
        Assert.Equal("GenuineIntel", vendor);

        var leaf1 = Leaf(1);
        Assert.Equal(0x0000_0633u, leaf1[0]); // type 0, family 6, model 3, stepping 3
        Assert.Equal(0u, leaf1[1]);
        Assert.Equal(0u, leaf1[2]);
        uint features = leaf1[3];
        foreach (int bit in (ReadOnlySpan<int>)[3, 4, 5, 8, 11, 13, 15]) // PSE TSC MSR CX8 SEP PGE CMOV
            Assert.True((features & (1u << bit)) != 0, $"feature bit {bit} missing");
        foreach (int bit in (ReadOnlySpan<int>)[1, 2, 6, 7, 9, 12, 14, 16, 17]) // VME DE PAE MCE APIC MTRR MCA PAT PSE36
            Assert.True((features & (1u << bit)) == 0, $"feature bit {bit} reported but not implemented");

        uint[] leaf2 = [0x0302_0101, 0, 0, 0x0C04_0843];
        Assert.Equal(leaf2, Leaf(2));
        Assert.Equal(1u, Leaf(2)[0] & 0xFF); // one CPUID 2 call returns all descriptors
        // Above the maximum, basic or extended, the highest basic leaf comes back: a kernel sees no
        // 0x8000xxxx maximum at 0x80000000 and knows there is no brand string.
        Assert.Equal(leaf2, Leaf(3));
        Assert.Equal(leaf2, Leaf(4));
        Assert.Equal(leaf2, Leaf(5));
        Assert.NotEqual(0x8000_0000u, Leaf(4)[0] & 0xFFFF_0000);

        // EDX at reset holds the same signature as leaf 1's EAX.
        k.Cpu.Reset();
        Assert.Equal(leaf1[0], k.Cpu.Edx);
    }

    [Fact]
    public void Bios_sign_id_follows_write_cpuid_read_and_survives_a_snapshot()
    {
        static K Build()
        {
            var k = new K();
            k.Assemble(Code, a =>
            {
                a.mov(ecx, 0x8B);
                a.mov(eax, 0x1234_5678);
                a.mov(edx, 0x9ABC_DEF0);
                a.wrmsr();
                a.xor(eax, eax);
                a.xor(edx, edx);
                a.rdmsr();                         // what was written, before any CPUID
                a.mov(__dword_ptr[K.Results], eax);
                a.mov(__dword_ptr[K.Results + 4], edx);
                // Linux's intel_get_microcode_revision(): write 0, CPUID 1, read the high dword.
                a.xor(eax, eax);
                a.xor(edx, edx);
                a.wrmsr();
                a.mov(eax, 1);
                a.cpuid();
                a.mov(ecx, 0x8B);
                a.rdmsr();
                a.mov(__dword_ptr[K.Results + 8], eax);
                a.mov(__dword_ptr[K.Results + 12], edx);
                a.mov(eax, 0xF00D);
                a.mov(edx, 0xCAFE);
                a.wrmsr();
                a.hlt();
            });
            k.Assemble(Code + 0x80, a =>
            {
                a.xor(eax, eax);
                a.xor(edx, edx);
                a.mov(ecx, 0x8B);
                a.rdmsr();
                a.hlt();
            });
            k.Start(a => a.jmp((ulong)Code));
            return k;
        }

        var k = Build();
        k.RunToHalt();
        Assert.Equal(0x1234_5678u, k.ReadU32(K.Results));
        Assert.Equal(0x9ABC_DEF0u, k.ReadU32(K.Results + 4));
        Assert.Equal(0u, k.ReadU32(K.Results + 8));
        Assert.Equal(Cpu.MicrocodeRevision, k.ReadU32(K.Results + 12));
        Assert.NotEqual(0u, k.ReadU32(K.Results + 12)); // nonzero: "an update is loaded"

        // The register is CPU state: a snapshot taken after the last WRMSR carries it to another CPU.
        var before = Build();
        Assert.Equal(CpuExit.PositionReached, before.Cpu.Run(k.Cpu.Position - 1)); // all but the HLT
        using var saved = new MemoryStream();
        before.Cpu.SaveState(new BinaryWriter(saved));
        var other = new K();
        before.H.Memory.Ram.CopyTo(other.H.Memory.Ram, 0);
        saved.Position = 0;
        other.Cpu.LoadState(new BinaryReader(saved));
        other.Cpu.Eip = Code + 0x80;
        other.RunToHalt();
        Assert.Equal(0xF00Du, other.Cpu.Eax);
        Assert.Equal(0xCAFEu, other.Cpu.Edx);
    }

    [Fact]
    public void Platform_id_reads_platform_0_and_cannot_be_written()
    {
        var k = new K();
        k.RecordingHandler(13, hasErrorCode: true);
        k.Start(a =>
        {
            a.mov(ecx, 0x17);
            a.mov(eax, 0xFFFF_FFFF);
            a.mov(edx, 0xFFFF_FFFF);
            a.rdmsr();
            a.mov(esi, eax);
            a.mov(edi, edx);
            a.wrmsr();
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(0u, k.Cpu.Esi);
        Assert.Equal(0u, k.Cpu.Edi);
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(0u, k.ReadU32(K.Record(13) + 4));
    }

    [Theory]
    [InlineData(0x1Bu, false)]        // IA32_APIC_BASE: no local APIC
    [InlineData(0x1Bu, true)]
    [InlineData(0xFEu, false)]        // IA32_MTRRCAP: no MTRRs
    [InlineData(0x2FFu, true)]        // IA32_MTRR_DEF_TYPE
    [InlineData(0x179u, false)]       // IA32_MCG_CAP: no machine check
    [InlineData(0x277u, false)]       // IA32_PAT
    [InlineData(0x3Au, false)]        // IA32_FEATURE_CONTROL, which Linux probes with rdmsr_safe
    [InlineData(0x79u, true)]         // IA32_BIOS_UPDT_TRIG: nothing to update
    [InlineData(0xC000_0080u, false)] // EFER: no long mode
    public void An_msr_that_does_not_exist_is_gp0_at_the_instruction_with_nothing_changed(uint msr, bool write)
    {
        var k = new K();
        // A #GP handler like a kernel's exception-table fixup: note the error code and the
        // faulting EIP, resume at the fixup.
        k.Assemble(K.Handlers, a =>
        {
            a.pop(edi);
            a.mov(ebp, __dword_ptr[esp]);
            a.mov(__dword_ptr[esp], Fixup);
            a.iretd();
        });
        k.SetGate(13, K.Handlers);
        Iced.Intel.Label access = default;
        k.Assemble(Code, a =>
        {
            a.mov(ecx, msr);
            a.mov(eax, 0x1111_1111);
            a.mov(edx, 0x2222_2222);
            a.mov(edi, 0xFFFF_FFFF);
            access = a.CreateLabel();
            a.Label(ref access);
            if (write) a.wrmsr();
            else a.rdmsr();
            a.mov(esi, 0xBAD);
            a.hlt();
        }, out var code);
        k.Assemble(Fixup, a =>
        {
            a.mov(esi, 0xF1F1);
            a.hlt();
        });
        k.Start(a => a.jmp((ulong)Code));

        k.RunToHalt();
        Assert.Equal(0xF1F1u, k.Cpu.Esi);
        Assert.Equal(0u, k.Cpu.Edi);
        Assert.Equal(K.At(code, access), k.Cpu.Ebp);
        Assert.Equal(0x1111_1111u, k.Cpu.Eax);
        Assert.Equal(0x2222_2222u, k.Cpu.Edx);
        Assert.Equal(msr, k.Cpu.Ecx);
        Assert.Equal(K.KernelStack, k.Cpu.Esp);
    }

    [Theory]
    [InlineData(0)] // VME: virtual-8086 mode extensions are not implemented (CPUID says so)
    [InlineData(1)] // PVI
    [InlineData(5)] // PAE
    [InlineData(6)] // MCE
    [InlineData(8)] // PCE
    public void Cr4_bits_of_unreported_features_are_reserved(int bit)
    {
        var k = new K();
        k.RecordingHandler(13, hasErrorCode: true);
        k.Start(a =>
        {
            a.mov(eax, 1u << bit);
            a.mov(cr4, eax);
            a.hlt();
        });
        k.RunToHalt();
        Assert.Equal(14u, k.ReadU32(K.Record(13)));
        Assert.Equal(0u, k.Cpu.Cr4);
    }
}
