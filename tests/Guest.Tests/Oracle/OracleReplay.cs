using System.Buffers.Binary;
using System.Text;
using VmFt.Guest.Memory;
using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Oracle;

/// <summary>
/// Replays oracle vectors on the emulated CPU: flat protected mode at CPL 3, the code and data
/// pages at the same addresses as in the native runner. Exceptions go through a real IDT whose
/// handlers are <c>jmp $</c> loops, one 16-byte slot per vector, so where EIP lands names the vector.
/// </summary>
internal sealed class OracleReplay : ICpuBus
{
    private const uint Gdt = 0x30_0000, Tss = 0x30_1000, Idt = 0x30_2000, Handlers = 0x30_3000, Setup = 0x30_4000;
    private const uint Pseudo = 0x30_5000, Ring0StackTop = 0x31_0000;
    private const int HandlerSlot = 16, Vectors = 32;

    /// <summary>
    /// EFLAGS bits compared: CF PF AF ZF SF TF IF DF OF IOPL NT AC ID, and bit 1. RF is left out:
    /// the native runner sees it set by the kernel's fault return, not by the instruction.
    /// </summary>
    public const uint ComparedFlags = 0x0024_7FD7;

    private readonly PhysicalMemory _memory = new(4 * 1024 * 1024);
    private readonly Cpu _cpu;
    private readonly byte[] _expectedPage = new byte[OracleVector.PageSize];

    public Cpu Cpu => _cpu;
    public PhysicalMemory Memory => _memory;

    /// <summary>Runs after the vector's registers are loaded and before its code runs (the x87 replay loads the FPU there).</summary>
    public Action? BeforeRun { get; set; }

    /// <summary>Data-page ranges the next <see cref="Replay"/> leaves out of the comparison.</summary>
    public (ushort Offset, ushort Length)[] IgnoredData { get; set; } = [];

    public OracleReplay()
    {
        _cpu = new Cpu(_memory, this);
        BuildSystemTables();
        _cpu.Reset();
        _cpu.EnterFlatProtectedMode(0);
        _cpu.Eip = Setup;
        _cpu.Run(_cpu.Position + 4); // lgdt, lidt, mov ax, ltr
        if (_cpu.Eip != Setup + SetupLength)
            throw new InvalidOperationException($"descriptor-table setup stopped at {_cpu.Eip:X8}");
    }

    private static readonly byte[] SetupCode =
    [
        0x0F, 0x01, 0x15, .. LE(Pseudo),        // lgdt [Pseudo]
        0x0F, 0x01, 0x1D, .. LE(Pseudo + 8),    // lidt [Pseudo+8]
        0x66, 0xB8, 0x28, 0x00,                 // mov ax, 0x28
        0x0F, 0x00, 0xD8,                       // ltr ax
    ];

    private static uint SetupLength => (uint)SetupCode.Length;

    private static byte[] LE(uint v) => [(byte)v, (byte)(v >> 8), (byte)(v >> 16), (byte)(v >> 24)];

    private void BuildSystemTables()
    {
        var ram = _memory.Ram.AsSpan();
        // GDT: null, 0x08 ring-0 code, 0x10 ring-0 data, 0x18 ring-3 code, 0x20 ring-3 data, 0x28 TSS.
        ulong Flat(byte access) => 0x00CF_0000_0000_FFFFUL | ((ulong)access << 40);
        ulong[] gdt =
        [
            0, Flat(0x9B), Flat(0x93), Flat(0xFB), Flat(0xF3),
            0x67 | ((ulong)(Tss & 0xFFFFFF) << 16) | (0x89UL << 40) | ((ulong)(Tss >> 24) << 56),
        ];
        for (int i = 0; i < gdt.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(ram[(int)(Gdt + 8 * i)..], gdt[i]);
        BinaryPrimitives.WriteUInt32LittleEndian(ram[(int)(Tss + 4)..], Ring0StackTop); // ESP0
        BinaryPrimitives.WriteUInt32LittleEndian(ram[(int)(Tss + 8)..], 0x10);          // SS0
        for (uint v = 0; v < Vectors; v++)
        {
            uint handler = Handlers + v * HandlerSlot;
            ulong gate = (handler & 0xFFFF) | (0x08UL << 16) | (0x8EUL << 40) | ((ulong)(handler >> 16) << 48);
            BinaryPrimitives.WriteUInt64LittleEndian(ram[(int)(Idt + 8 * v)..], gate);
            ram[(int)handler] = 0xEB;     // jmp $
            ram[(int)handler + 1] = 0xFE;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(ram[(int)Pseudo..], (ushort)(gdt.Length * 8 - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(ram[(int)(Pseudo + 2)..], Gdt);
        BinaryPrimitives.WriteUInt16LittleEndian(ram[(int)(Pseudo + 8)..], Vectors * 8 - 1);
        BinaryPrimitives.WriteUInt32LittleEndian(ram[(int)(Pseudo + 10)..], Idt);
        SetupCode.CopyTo(ram[(int)Setup..]);
        _memory.NotifyWritten(Gdt, Ring0StackTop - Gdt);
    }

    /// <summary>Runs one vector; returns null when the emulator matches the host, else what differs.</summary>
    public string? Replay(OracleVector v)
    {
        var ram = _memory.Ram.AsSpan();
        var code = ram.Slice((int)OracleVector.CodeBase, (int)OracleVector.PageSize);
        code.Fill(0xF4); // HLT past the end: #GP at CPL 3 if something runs on
        v.Code.CopyTo(code);
        v.FillDataPage(ram.Slice((int)OracleVector.DataBase, (int)OracleVector.PageSize));
        _memory.NotifyWritten(OracleVector.CodeBase, OracleVector.PageSize);
        _memory.NotifyWritten(OracleVector.DataBase, OracleVector.PageSize);

        _cpu.EnterFlatProtectedMode(3);
        for (int i = 0; i < 8; i++) _cpu.SetRegister(i, v.Registers[i]);
        _cpu.Eflags = v.Eflags;
        _cpu.Eip = OracleVector.CodeBase;
        BeforeRun?.Invoke();

        int vector = OracleVector.NoFault;
        uint end = v.EndEip;
        for (int steps = 0; ; steps++)
        {
            if (_cpu.Eip == end) break;
            if (steps > 10_000) return $"did not reach the end (EIP {_cpu.Eip:X8}) in 10,000 steps";
            CpuExit exit;
            try
            {
                exit = _cpu.Run(_cpu.Position + 1);
            }
            catch (Exception e)
            {
                return $"the CPU threw {e.GetType().Name}: {e.Message}";
            }
            if (exit == CpuExit.Shutdown) return "the CPU shut down (triple fault)";
            uint eip = _cpu.Eip;
            if (eip - Handlers < Vectors * HandlerSlot && _cpu.Cpl == 0)
            {
                vector = (int)((eip - Handlers) / HandlerSlot);
                break;
            }
        }

        var sb = new StringBuilder();
        uint[] regs = new uint[8];
        for (int i = 0; i < 8; i++) regs[i] = _cpu.GetRegister(i);
        uint flags = _cpu.Eflags, eipAfter = _cpu.Eip;
        if (vector != OracleVector.NoFault)
        {
            // The ring-0 frame: [error code] EIP CS EFLAGS ESP SS, SS on top.
            regs[4] = _memory.ReadUInt32(Ring0StackTop - 8);
            flags = _memory.ReadUInt32(Ring0StackTop - 12);
            eipAfter = _memory.ReadUInt32(Ring0StackTop - 20);
        }
        if (vector != v.Vector)
            sb.Append($" vector: expected {Name(v.Vector)} got {Name(vector)};");
        if (eipAfter != v.FinalEip) sb.Append($" eip: expected {v.FinalEip:X8} got {eipAfter:X8};");
        for (int i = 0; i < 8; i++)
            if ((v.UndefinedRegisters & (1 << i)) == 0 && regs[i] != v.FinalRegisters[i])
                sb.Append($" {RegName[i]}: expected {v.FinalRegisters[i]:X8} got {regs[i]:X8};");
        uint mask = ComparedFlags & ~(uint)v.UndefinedFlags;
        if (((flags ^ v.FinalEflags) & mask) != 0)
            sb.Append($" eflags: expected {v.FinalEflags & mask:X8} got {flags & mask:X8} (differ {(flags ^ v.FinalEflags) & mask:X})");

        v.FillDataPage(_expectedPage);
        foreach (var (offset, value) in v.Changes) _expectedPage[offset] = value;
        var page = ram.Slice((int)OracleVector.DataBase, (int)OracleVector.PageSize);
        foreach (var (offset, length) in IgnoredData)
            page.Slice(offset, length).CopyTo(_expectedPage.AsSpan(offset, length));
        int diffs = 0;
        for (int i = 0; i < page.Length; i++)
            if (page[i] != _expectedPage[i] && diffs++ < 4)
                sb.Append($" [data+{i:X3}]: expected {_expectedPage[i]:X2} got {page[i]:X2};");
        if (diffs > 4) sb.Append($" ({diffs} data bytes differ)");
        return sb.Length == 0 ? null : sb.ToString().Trim();
    }

    private static readonly string[] RegName = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

    private static string Name(int vector) => vector == OracleVector.NoFault ? "none" : $"#{vector}";

    public uint PortRead(ushort port, int size) => 0xFFFF_FFFF;
    public void PortWrite(ushort port, int size, uint value) { }
    public ulong ReadTimeStampCounter(ulong position) => position;
    public byte AcknowledgeInterrupt() => 0;
}
