using VmFt.Guest.Processor;

namespace VmFt.Guest.Loaders;

/// <summary>
/// The CPU state a loader asks for. Loaders only write memory and return this; the machine applies
/// it (<see cref="ApplyTo"/>), so a loader can be tested without a CPU and a snapshot or replay
/// never depends on how the image got there.
/// </summary>
public sealed record BootState
{
    public required BootMode Mode { get; init; }
    public uint Eip { get; init; }
    public uint Eax { get; init; }
    public uint Ebx { get; init; }
    public uint Ecx { get; init; }
    public uint Edx { get; init; }
    public uint Esp { get; init; }
    public uint Ebp { get; init; }
    public uint Esi { get; init; }
    public uint Edi { get; init; }
    /// <summary>Bit 1 is always set; IF (bit 9) clear: every loader hands over with interrupts off.</summary>
    public uint Eflags { get; init; } = 0x2;

    /// <summary>Real mode only: the CS selector.</summary>
    public ushort CodeSelector { get; init; }
    /// <summary>Real mode only: the CS base. Normally selector * 16; 0xFFFF0000 after power-on.</summary>
    public uint CodeBase { get; init; }
    /// <summary>Real mode only: DS, ES, FS, GS and SS.</summary>
    public ushort DataSelector { get; init; }

    public bool A20Enabled { get; init; } = true;

    /// <summary>Flat protected mode only: a GDT in memory to load into GDTR (limit 0: GDTR stays empty).</summary>
    public uint GdtBase { get; init; }
    public ushort GdtLimit { get; init; }
    /// <summary>Flat protected mode only: the selectors in CS and in DS, ES, FS, GS, SS (the GDT's flat descriptors).</summary>
    public ushort FlatCodeSelector { get; init; } = 0x08;
    public ushort FlatDataSelector { get; init; } = 0x10;

    /// <summary>Resets <paramref name="cpu"/> and puts it in this state.</summary>
    public void ApplyTo(Cpu cpu)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        cpu.Reset();
        cpu.A20Enabled = A20Enabled;
        if (Mode == BootMode.PowerOn) return;

        if (Mode == BootMode.FlatProtected)
        {
            cpu.EnterFlatProtectedMode(0);
            if (GdtLimit != 0) cpu.LoadGdtr(GdtBase, GdtLimit);
            foreach (var sr in (ReadOnlySpan<SegmentRegister>)[SegmentRegister.CS, SegmentRegister.ES, SegmentRegister.SS, SegmentRegister.DS, SegmentRegister.FS, SegmentRegister.GS])
            {
                var s = cpu.GetSegment(sr);
                s.Selector = sr == SegmentRegister.CS ? FlatCodeSelector : FlatDataSelector;
                cpu.SetSegment(sr, s);
            }
        }
        else
        {
            foreach (var sr in (ReadOnlySpan<SegmentRegister>)[SegmentRegister.ES, SegmentRegister.SS, SegmentRegister.DS, SegmentRegister.FS, SegmentRegister.GS])
                cpu.LoadRealModeSegment(sr, DataSelector);
            cpu.LoadRealModeSegment(SegmentRegister.CS, CodeSelector);
            if (CodeBase != (uint)CodeSelector << 4)
            {
                var cs = cpu.GetSegment(SegmentRegister.CS);
                cs.Base = CodeBase;
                cpu.SetSegment(SegmentRegister.CS, cs);
            }
        }
        cpu.Eax = Eax;
        cpu.Ebx = Ebx;
        cpu.Ecx = Ecx;
        cpu.Edx = Edx;
        cpu.Esp = Esp;
        cpu.Ebp = Ebp;
        cpu.Esi = Esi;
        cpu.Edi = Edi;
        cpu.Eflags = Eflags;
        cpu.Eip = Eip;
    }
}
