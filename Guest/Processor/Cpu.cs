using System.Runtime.CompilerServices;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Processor;

/// <summary>
/// An i686-class uniprocessor x86 CPU. Instructions are decoded once with Iced into
/// <see cref="DecodedInstruction"/>s kept in a cache keyed by physical address and executed by small
/// handlers found through a table indexed by Iced's <c>Code</c>.
/// <para>
/// The CPU is a pure state machine: it reads nothing outside its state except through
/// <see cref="ICpuBus"/> and the <see cref="InterruptLine"/> input, and it counts its
/// <see cref="Position"/> (instructions retired; each REP iteration counts as one), so events from
/// outside can be delivered at exact positions.
/// </para>
/// </summary>
public sealed unsafe partial class Cpu
{
    // EFLAGS bits.
    internal const uint CF = 1u << 0, PF = 1u << 2, AF = 1u << 4, ZF = 1u << 6, SF = 1u << 7, TF = 1u << 8,
        IF = 1u << 9, DF = 1u << 10, OF = 1u << 11, IOPL = 3u << 12, NT = 1u << 14, RF = 1u << 16, VM = 1u << 17,
        AC = 1u << 18, VIF = 1u << 19, VIP = 1u << 20, ID = 1u << 21;
    internal const uint ArithFlags = CF | PF | AF | ZF | SF | OF;
    /// <summary>The EFLAGS bits an i686 implements; all others read as 0 except bit 1, which reads as 1.</summary>
    internal const uint ImplementedFlags = ArithFlags | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

    // CR0 bits.
    internal const uint CR0_PE = 1u << 0, CR0_MP = 1u << 1, CR0_EM = 1u << 2, CR0_TS = 1u << 3, CR0_ET = 1u << 4,
        CR0_NE = 1u << 5, CR0_WP = 1u << 16, CR0_AM = 1u << 18, CR0_NW = 1u << 29, CR0_CD = 1u << 30, CR0_PG = 1u << 31;
    // CR4 bits.
    internal const uint CR4_VME = 1u << 0, CR4_PVI = 1u << 1, CR4_TSD = 1u << 2, CR4_DE = 1u << 3, CR4_PSE = 1u << 4,
        CR4_PAE = 1u << 5, CR4_MCE = 1u << 6, CR4_PGE = 1u << 7, CR4_PCE = 1u << 8;

    // Register indices as the x86 encodes them.
    internal const int EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;
    /// <summary>Index of a register that always holds 0: memory operands without base or index use it.</summary>
    internal const int Zero = 8;

    private readonly PhysicalMemory _memory;
    internal readonly ICpuBus _bus;
    private readonly byte[] _ram;
    private readonly uint _ramSize;

    /// <summary>General registers EAX..EDI, then the always-zero register.</summary>
    internal readonly uint[] R = new uint[9];
    internal uint _eip;
    /// <summary>EFLAGS with bit 1 clear; <see cref="Eflags"/> adds it.</summary>
    internal uint _flags;
    internal readonly SegmentCache[] S = new SegmentCache[6];
    internal uint _cr0, _cr2, _cr3, _cr4;
    internal readonly uint[] _dr = new uint[8];
    internal DescriptorTableRegister _gdtr, _idtr;
    /// <summary>LDTR and TR with their descriptor caches.</summary>
    internal SegmentCache _ldtr, _tr;
    /// <summary>Current privilege level (CS.RPL in protected mode; 0 in real mode, 3 in virtual-8086 mode).</summary>
    internal int _cpl;
    internal ulong _position;
    internal bool _halted;
    /// <summary>Set by MOV SS, POP SS and STI (when IF was clear): no interrupt before the next instruction ends.</summary>
    internal bool _interruptShadow;
    private bool _interruptLine;
    private bool _stopRequested;
    internal bool _a20 = true;
    internal uint _a20Mask = 0xFFFF_FFFF;
    internal ulong _sysenterCs, _sysenterEsp, _sysenterEip;
    /// <summary>TSC value written by WRMSR, as an offset added to what the bus reports.</summary>
    internal ulong _tscOffset;
    /// <summary>IA32_BIOS_SIGN_ID (MSR 8BH): what WRMSR wrote, or the microcode revision CPUID leaf 1 latched.</summary>
    internal ulong _biosSignId;

    // Per-instruction scratch: where the current instruction started, to restart it after a fault.
    internal uint _startEip;
    internal uint _startEsp;

    /// <summary>Diagnostics (an unimplemented instruction, a triple fault): one line each.</summary>
    public Action<string>? Log { get; set; }

    public Cpu(PhysicalMemory memory, ICpuBus bus)
    {
        _memory = memory;
        _bus = bus;
        _ram = memory.Ram;
        _ramSize = memory.RamSize;
        _decodePages = new DecodedPage?[_ramSize >> 12];
        _codeReader = new GuestCodeReader(this);
        _decoder16 = Iced.Intel.Decoder.Create(16, _codeReader);
        _decoder32 = Iced.Intel.Decoder.Create(32, _codeReader);
        memory.PageWrittenExternally = InvalidateCodePage;
        Reset();
    }

    public PhysicalMemory Memory => _memory;

    /// <summary>Instructions retired since power-on (each REP iteration counts as one).</summary>
    public ulong Position => _position;

    public uint Eax { get => R[EAX]; set => R[EAX] = value; }
    public uint Ecx { get => R[ECX]; set => R[ECX] = value; }
    public uint Edx { get => R[EDX]; set => R[EDX] = value; }
    public uint Ebx { get => R[EBX]; set => R[EBX] = value; }
    public uint Esp { get => R[ESP]; set => R[ESP] = value; }
    public uint Ebp { get => R[EBP]; set => R[EBP] = value; }
    public uint Esi { get => R[ESI]; set => R[ESI] = value; }
    public uint Edi { get => R[EDI]; set => R[EDI] = value; }
    public uint Eip { get => _eip; set => _eip = value; }

    /// <summary>Register by encoding index (0 = EAX ... 7 = EDI).</summary>
    public uint GetRegister(int index) => R[index];
    public void SetRegister(int index, uint value) => R[index] = value;

    public uint Eflags
    {
        get => _flags | 2;
        set => _flags = value & ImplementedFlags;
    }

    public uint Cr0 { get => _cr0; set => WriteCr0(value); }
    public uint Cr2 { get => _cr2; set => _cr2 = value; }
    public uint Cr3 { get => _cr3; set { _cr3 = value; FlushTlb(global: false); } }
    public uint Cr4 { get => _cr4; set { _cr4 = value; FlushTlb(global: true); } }

    public int Cpl => _cpl;
    public bool Halted => _halted;
    public bool ProtectedMode => (_cr0 & CR0_PE) != 0;
    public bool PagingEnabled => (_cr0 & CR0_PG) != 0;
    internal bool V86 => (_flags & VM) != 0;

    /// <summary>The A20 gate: when disabled, physical address bit 20 is forced to 0, as on a PC.</summary>
    public bool A20Enabled
    {
        get => _a20;
        set
        {
            if (_a20 == value) return;
            _a20 = value;
            _a20Mask = value ? 0xFFFF_FFFFu : ~(1u << 20);
            FlushTlb(global: true);
        }
    }

    /// <summary>The INTR pin. The PIC drives it; the CPU samples it between instructions.</summary>
    public bool InterruptLine
    {
        get => _interruptLine;
        set => _interruptLine = value;
    }

    /// <summary>Makes <see cref="Run"/> return <see cref="CpuExit.StopRequested"/> after the current instruction.</summary>
    public void RequestStop() => _stopRequested = true;

    private DebugTraps? _traps;

    /// <summary>A debugger's breakpoints and watchpoints; null (the default) checks nothing.</summary>
    public DebugTraps? Traps
    {
        get => _traps;
        set
        {
            _traps = value;
            TrapsChanged();
        }
    }

    /// <summary>Watchpoints changed: drop cached translations so that watched pages take the checked path.</summary>
    public void TrapsChanged() => FlushTlb(global: true);

    public ushort GetSelector(SegmentRegister sr) => S[(int)sr].Selector;
    public SegmentCache GetSegment(SegmentRegister sr) => S[(int)sr];

    public void SetSegment(SegmentRegister sr, SegmentCache cache)
    {
        cache.Refresh(cache.Usable || !ProtectedMode || cache.Selector > 3);
        S[(int)sr] = cache;
        if (sr == SegmentRegister.CS) OnCodeSegmentChanged();
    }

    public (uint Base, ushort Limit) Gdtr => (_gdtr.Base, _gdtr.Limit);
    public (uint Base, ushort Limit) Idtr => (_idtr.Base, _idtr.Limit);

    /// <summary>Loads a segment register as real mode does: base = selector * 16, 64 KiB limit.</summary>
    public void LoadRealModeSegment(SegmentRegister sr, ushort selector)
    {
        S[(int)sr] = SegmentCache.RealMode(selector);
        if (sr == SegmentRegister.CS) OnCodeSegmentChanged();
    }

    /// <summary>
    /// Puts the CPU in 32-bit protected mode with flat 4 GiB code and data segments at the given
    /// privilege level, without descriptor tables in memory (only the hidden caches), which is the
    /// state a Multiboot loader hands over. Paging stays off.
    /// </summary>
    public void EnterFlatProtectedMode(int cpl)
    {
        if (cpl is < 0 or > 3) throw new ArgumentOutOfRangeException(nameof(cpl));
        _cr0 |= CR0_PE;
        _cpl = cpl;
        byte dpl = (byte)(cpl << 5);
        for (int i = 0; i < 6; i++)
        {
            bool code = i == (int)SegmentRegister.CS;
            var s = new SegmentCache
            {
                // Selectors as a typical flat GDT: 0x08 code, 0x10 data (ring 0); 0x1B/0x23 for ring 3.
                Selector = (ushort)(cpl == 0 ? (code ? 0x08 : 0x10) : (code ? 0x1B : 0x23)),
                Base = 0,
                Limit = 0xFFFF_FFFF,
                Access = (byte)((code ? 0x9B : 0x93) | dpl),
                Big = true,
                Granular = true,
            };
            s.Refresh();
            S[i] = s;
        }
        FlushTlb(global: true);
        OnCodeSegmentChanged();
    }

    /// <summary>Loads GDTR as LGDT would (for loaders that hand over with a GDT in memory).</summary>
    public void LoadGdtr(uint baseAddress, ushort limit) => _gdtr = new DescriptorTableRegister(baseAddress, limit);

    /// <summary>Power-on / RESET state (Intel SDM vol. 3, table 9-1).</summary>
    public void Reset()
    {
        Array.Clear(R);
        R[EDX] = CpuidSignature; // family 6, model 3, stepping 3, as CPUID leaf 1 reports
        _eip = 0xFFF0;
        _flags = 0;
        for (int i = 0; i < 6; i++)
            S[i] = SegmentCache.RealMode(0);
        S[(int)SegmentRegister.CS].Selector = 0xF000;
        S[(int)SegmentRegister.CS].Base = 0xFFFF_0000;
        _cr0 = CR0_ET | CR0_CD | CR0_NW;
        _cr2 = _cr3 = _cr4 = 0;
        Array.Clear(_dr);
        _dr[6] = 0xFFFF_0FF0;
        _dr[7] = 0x0000_0400;
        _gdtr = new DescriptorTableRegister(0, 0xFFFF);
        _idtr = new DescriptorTableRegister(0, 0x3FF);
        _ldtr = new SegmentCache { Access = 0x82, Limit = 0xFFFF };
        _ldtr.Refresh();
        _tr = new SegmentCache { Access = 0x8B, Limit = 0xFFFF };
        _tr.Refresh();
        _cpl = 0;
        _halted = false;
        _shutdown = false;
        _interruptShadow = false;
        _sysenterCs = _sysenterEsp = _sysenterEip = 0;
        _tscOffset = 0;
        _biosSignId = 0;
        ResetFpu();
        FlushTlb(global: true);
        OnCodeSegmentChanged();
    }

    internal bool Code32 => S[(int)SegmentRegister.CS].Big;
    internal bool Stack32 => S[(int)SegmentRegister.SS].Big;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool GetFlag(uint flag) => (_flags & flag) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetFlag(uint flag, bool on) => _flags = on ? _flags | flag : _flags & ~flag;
}
