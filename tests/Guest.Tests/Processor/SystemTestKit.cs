using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// A small protected-mode world built in guest RAM by the tests: a GDT, an IDT, a TSS, optional page
/// tables, and code assembled with Iced at fixed addresses. The layout mirrors a typical i386 kernel:
/// 0x08 ring-0 code, 0x10 ring-0 data, 0x1B ring-3 code, 0x23 ring-3 data (so SYSENTER_CS = 0x08
/// works), 0x28 the TSS.
/// </summary>
internal sealed class SystemTestKit
{
    public const uint GdtBase = 0x1000, IdtBase = 0x2000, TssBase = 0x3000, GdtrPointer = 0x0F00, IdtrPointer = 0x0F08;
    public const uint Code = 0x10000, Handlers = 0x20000, UserCode = 0x30000;
    public const uint Results = 0x5000;
    public const uint KernelStack = 0x90000, UserStack = 0x80000;
    public const uint PageDirectory = 0x100000, PageTable0 = 0x101000, PageTable1 = 0x102000;
    public const ushort KernelCs = 0x08, KernelDs = 0x10, UserCs = 0x1B, UserDs = 0x23, TssSel = 0x28;
    public const int GdtEntries = 32;

    public CpuTestHarness H { get; } = new();
    public Cpu Cpu => H.Cpu;

    public SystemTestKit()
    {
        SetDescriptor(1, 0, 0xFFFFF, 0x9A, big: true, granular: true);  // 0x08 ring-0 code
        SetDescriptor(2, 0, 0xFFFFF, 0x92, big: true, granular: true);  // 0x10 ring-0 data
        SetDescriptor(3, 0, 0xFFFFF, 0xFA, big: true, granular: true);  // 0x18 ring-3 code
        SetDescriptor(4, 0, 0xFFFFF, 0xF2, big: true, granular: true);  // 0x20 ring-3 data
        SetDescriptor(5, TssBase, 0x67, 0x89, big: false, granular: false); // 0x28 32-bit TSS, available
        WriteU16(GdtrPointer, GdtEntries * 8 - 1);
        WriteU32(GdtrPointer + 2, GdtBase);
        WriteU16(IdtrPointer, 256 * 8 - 1);
        WriteU32(IdtrPointer + 2, IdtBase);
        // TSS: ESP0 and SS0, the ring-0 stack for interrupts from ring 3.
        WriteU32(TssBase + 4, KernelStack);
        WriteU32(TssBase + 8, KernelDs);
    }

    public void SetDescriptor(int index, uint segBase, uint limit, byte access, bool big, bool granular)
    {
        uint lo = (limit & 0xFFFF) | (segBase << 16);
        uint hi = ((segBase >> 16) & 0xFF) | ((uint)access << 8) | (limit & 0xF_0000)
            | (big ? 1u << 22 : 0) | (granular ? 1u << 23 : 0) | (segBase & 0xFF00_0000);
        WriteU32(GdtBase + (uint)index * 8, lo);
        WriteU32(GdtBase + (uint)index * 8 + 4, hi);
    }

    /// <summary>A 32-bit gate: type 0xE interrupt gate, 0xF trap gate.</summary>
    public void SetGate(int vector, uint offset, ushort selector = KernelCs, int type = 0xE, int dpl = 0, bool present = true)
    {
        WriteU32(IdtBase + (uint)vector * 8, (offset & 0xFFFF) | ((uint)selector << 16));
        WriteU32(IdtBase + (uint)vector * 8 + 4, (offset & 0xFFFF_0000) | (present ? 0x8000u : 0) | ((uint)dpl << 13) | ((uint)type << 8));
    }

    /// <summary>A gate in the GDT: type 0x4/0xC call gate (with a parameter count), 0x5 task gate.</summary>
    public void SetGdtGate(int index, ushort selector, uint offset, int type, int dpl = 0, int count = 0, bool present = true)
    {
        WriteU32(GdtBase + (uint)index * 8, (offset & 0xFFFF) | ((uint)selector << 16));
        WriteU32(GdtBase + (uint)index * 8 + 4,
            (offset & 0xFFFF_0000) | (present ? 0x8000u : 0) | ((uint)dpl << 13) | ((uint)type << 8) | ((uint)count & 0x1F));
    }

    /// <summary>An IDT task gate naming <paramref name="tssSelector"/>.</summary>
    public void SetTaskGate(int vector, ushort tssSelector, int dpl = 0) => SetGate(vector, 0, tssSelector, type: 0x5, dpl: dpl);

    /// <summary>
    /// A 32-bit TSS at <paramref name="at"/>: the state a task switch loads (EFLAGS bit 1 is added),
    /// SS0:ESP0 = KernelDs:KernelStack for interrupts at ring 3, the previous task link 0 and no I/O
    /// bitmap (the map base points past the limit 0x67).
    /// </summary>
    public void WriteTss32(uint at, uint eip, uint esp, ushort cs = KernelCs, ushort ss = KernelDs, ushort ds = KernelDs,
        uint eflags = 0, uint cr3 = 0, ushort ldt = 0, ushort es = KernelDs, ushort fs = KernelDs, ushort gs = KernelDs,
        bool debugTrap = false, uint ss0Esp = KernelStack, ushort ss0 = KernelDs)
    {
        H.Memory.Load(at, new byte[0x68]);
        WriteU32(at + 0x04, ss0Esp);
        WriteU32(at + 0x08, ss0);
        WriteU32(at + 0x1C, cr3);
        WriteU32(at + 0x20, eip);
        WriteU32(at + 0x24, eflags | 2);
        WriteU32(at + 0x38, esp);
        ushort[] selectors = [es, cs, ss, ds, fs, gs];
        for (uint i = 0; i < 6; i++) WriteU32(at + 0x48 + i * 4, selectors[i]);
        WriteU32(at + 0x60, ldt);
        WriteU16(at + 0x64, (ushort)(debugTrap ? 1 : 0));
        WriteU16(at + 0x66, 0x68);
    }

    /// <summary>A TSS descriptor in the GDT: 32-bit (type 9) or 16-bit (type 1), available.</summary>
    public void SetTssDescriptor(int index, uint at, uint limit = 0x67, bool tss32 = true, int dpl = 0, bool present = true)
        => SetDescriptor(index, at, limit, (byte)((present ? 0x80 : 0) | (dpl << 5) | (tss32 ? 0x09 : 0x01)), big: false, granular: false);

    /// <summary>The access byte (P, DPL, S, type) of GDT entry <paramref name="index"/> as it is in memory now.</summary>
    public byte AccessByte(int index) => H.Memory.Ram[GdtBase + (uint)index * 8 + 5];

    public uint ReadU32(uint address) => BitConverter.ToUInt32(H.Memory.Ram, (int)address);
    public ushort ReadU16(uint address) => BitConverter.ToUInt16(H.Memory.Ram, (int)address);
    public void WriteU32(uint address, uint value) => H.Memory.Load(address, BitConverter.GetBytes(value));
    public void WriteU16(uint address, ushort value) => H.Memory.Load(address, BitConverter.GetBytes(value));

    /// <summary>Identity-maps the first 4 MiB with 4 KiB pages (PDE 0 -> PageTable0) with the given PTE flags; PDE 1 -> PageTable1, all absent.</summary>
    public void BuildIdentityPaging(uint pteFlags = 0x7)
    {
        for (uint i = 0; i < 1024; i++)
        {
            WriteU32(PageTable0 + i * 4, (i << 12) | pteFlags);
            WriteU32(PageTable1 + i * 4, 0);
            WriteU32(PageDirectory + i * 4, 0);
        }
        WriteU32(PageDirectory, PageTable0 | 0x7);
        WriteU32(PageDirectory + 4, PageTable1 | 0x7);
    }

    /// <summary>Assembles <paramref name="body"/> for <paramref name="bitness"/>-bit code at <paramref name="origin"/>, loads it, and returns the address after it.</summary>
    public uint Assemble(uint origin, Action<Assembler> body, int bitness = 32) => Assemble(origin, body, out _, bitness);

    public uint Assemble(uint origin, Action<Assembler> body, out AssemblerResult result, int bitness = 32)
        => AssembleAt(origin, origin, body, out result, bitness);

    /// <summary>
    /// Assembles code that runs at instruction pointer <paramref name="ip"/> (an offset in its code
    /// segment, as for real-mode or virtual-8086 code) and loads it at physical <paramref name="load"/>.
    /// </summary>
    public uint AssembleAt(uint load, uint ip, Action<Assembler> body, out AssemblerResult result, int bitness = 32)
    {
        var a = new Assembler(bitness);
        body(a);
        var writer = new BytesWriter();
        result = a.Assemble(writer, ip, BlockEncoderOptions.ReturnNewInstructionOffsets);
        H.Memory.Load(load, writer.Bytes.ToArray());
        return load + (uint)writer.Bytes.Count;
    }

    /// <summary>The address (instruction pointer) a label got.</summary>
    public static uint At(AssemblerResult result, Label label) => (uint)result.GetLabelRIP(label);

    /// <summary>
    /// Starts at <see cref="Code"/> in flat ring-0 protected mode (the harness sets hidden caches only)
    /// with a prologue that loads GDTR, IDTR and TR, reloads CS through the GDT with a far jump and the
    /// data and stack segments through it too; then <paramref name="body"/>.
    /// </summary>
    public void Start(Action<Assembler> body)
    {
        // Two passes: the far jump in the prologue must name the address right after itself.
        var first = new Assembler(32);
        first.lgdt(__[GdtrPointer]);
        first.lidt(__[IdtrPointer]);
        first.mov(ax, TssSel);
        first.ltr(ax);
        var w = new BytesWriter();
        first.Assemble(w, Code);
        uint jumpAt = Code + (uint)w.Bytes.Count;
        uint afterJump = jumpAt + 7; // EA ptr16:32
        Assemble(Code, a =>
        {
            a.lgdt(__[GdtrPointer]);
            a.lidt(__[IdtrPointer]);
            a.mov(ax, TssSel);
            a.ltr(ax);
            a.jmp(KernelCs, afterJump);
            a.mov(ax, KernelDs);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(fs, ax);
            a.mov(gs, ax);
            a.mov(ss, ax);
            a.mov(esp, KernelStack);
            body(a);
        });
        H.LoadFlat(Code, 0);
    }

    /// <summary>Where <see cref="RecordingHandler"/> for <paramref name="vector"/> writes: vector, error code, EIP, CS, EFLAGS.</summary>
    public static uint Record(int vector) => Results + (uint)vector * 0x20;

    /// <summary>
    /// Installs a ring-0 interrupt gate for <paramref name="vector"/> whose handler writes, through SS
    /// (DS may be null after a privilege change), vector + 1, the error code (if any), and the pushed
    /// EIP, CS and EFLAGS at <see cref="Record"/>, then halts.
    /// </summary>
    public void RecordingHandler(int vector, bool hasErrorCode)
    {
        uint at = Handlers + (uint)vector * 0x80;
        uint r = Record(vector);
        Assemble(at, a =>
        {
            a.mov(__dword_ptr.ss[r], (uint)vector + 1);
            if (hasErrorCode)
            {
                a.pop(eax);
                a.mov(__dword_ptr.ss[r + 4], eax);
            }
            a.mov(eax, __dword_ptr.ss[esp]);
            a.mov(__dword_ptr.ss[r + 8], eax);
            a.mov(eax, __dword_ptr.ss[esp + 4]);
            a.mov(__dword_ptr.ss[r + 12], eax);
            a.mov(eax, __dword_ptr.ss[esp + 8]);
            a.mov(__dword_ptr.ss[r + 16], eax);
            a.hlt();
        });
        SetGate(vector, at);
    }

    /// <summary>Runs until HLT (or shutdown) with a generous instruction budget; fails on anything else.</summary>
    public CpuExit RunToHalt(ulong budget = 100_000)
    {
        var exit = Cpu.Run(Cpu.Position + budget);
        Assert.True(exit is CpuExit.Halted or CpuExit.Shutdown, $"expected HLT, got {exit} at EIP 0x{Cpu.Eip:X8}; log: {string.Join(" | ", H.Log)}");
        return exit;
    }

    private sealed class BytesWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
