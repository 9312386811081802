using System.Runtime.CompilerServices;
using VmFt.Guest.Processor.X87;

namespace VmFt.Guest.Processor;

// The x87 FPU's state and the machinery every x87 instruction shares: the register stack, the
// status and control words, the last-instruction and last-operand pointers, the #NM rules of
// CR0.EM/MP/TS, pending unmasked exceptions (#MF, or FERR# and IGNNE# with CR0.NE clear).
public sealed unsafe partial class Cpu
{
    // Status word bits.
    internal const ushort FswEs = 1 << 7, FswC0 = 1 << 8, FswC1 = 1 << 9, FswC2 = 1 << 10, FswC3 = 1 << 14, FswB = 1 << 15;
    internal const ushort FswTop = 7 << 11;
    internal const ushort FswConditions = FswC0 | FswC1 | FswC2 | FswC3;
    /// <summary>CR4.OSFXSR: the OS uses FXSAVE/FXRSTOR (it changes nothing here: there is no SSE state).</summary>
    internal const uint CR4_OSFXSR = 1u << 9;

    /// <summary>Physical registers R0-R7 (ST(i) is R[(TOP + i) mod 8]).</summary>
    internal readonly Float80[] _fpr = new Float80[8];
    internal ushort _fcw;
    /// <summary>The status word with TOP (bits 11-13) kept in <see cref="_ftop"/> instead.</summary>
    internal ushort _fsw;
    internal int _ftop;
    /// <summary>Bit i set: physical register i is not empty. The 2-bit tags are computed from the contents when stored.</summary>
    internal byte _fvalid;
    internal uint _fip, _fdp;
    internal ushort _fcs, _fds, _fop;
    /// <summary>The FERR# output pin (an unmasked exception is pending and CR0.NE is clear).</summary>
    internal bool _ferr;
    /// <summary>The IGNNE# input pin: with CR0.NE clear, waiting instructions ignore a pending exception.</summary>
    internal bool _ignne;

    /// <summary>FERR# changed: PC-compatible boards route it to IRQ 13 (see <c>Devices.FpuErrorLatch</c>).</summary>
    public Action<bool>? FerrChanged { get; set; }

    /// <summary>The IGNNE# input pin, driven by the board (port 0xF0 on PC-compatibles).</summary>
    public bool IgnoreNumericError
    {
        get => _ignne;
        set => _ignne = value;
    }

    public bool FerrAsserted => _ferr;

    // ---- the public view, for debuggers and tests ------------------------------------------------

    public ushort FpuControlWord { get => _fcw; set => _fcw = (ushort)(value | 0x40); }

    public ushort FpuStatusWord
    {
        get => (ushort)((_fsw & ~FswTop) | (_ftop << 11));
        set
        {
            _fsw = (ushort)(value & ~FswTop);
            _ftop = (value >> 11) & 7;
            UpdateFerr();
        }
    }

    /// <summary>The full tag word as FSTENV stores it (00 valid, 01 zero, 10 special, 11 empty per physical register).</summary>
    public ushort FpuTagWord
    {
        get => FullTagWord();
        set => _fvalid = ValidFromTagWord(value);
    }

    public int FpuTop => _ftop;

    /// <summary>Physical register R<paramref name="index"/> (0-7).</summary>
    public Float80 GetFpuRegister(int index) => _fpr[index & 7];

    public void SetFpuRegister(int index, Float80 value) => _fpr[index & 7] = value;

    /// <summary>ST(<paramref name="i"/>).</summary>
    public Float80 GetFpuStack(int i) => _fpr[(_ftop + i) & 7];

    /// <summary>The last non-control x87 instruction: CS selector and offset (FSTENV's FIP).</summary>
    public (ushort Selector, uint Offset) FpuInstructionPointer
    {
        get => (_fcs, _fip);
        set => (_fcs, _fip) = value;
    }

    /// <summary>Its memory operand: DS (or override) selector and offset (FSTENV's FDP).</summary>
    public (ushort Selector, uint Offset) FpuDataPointer
    {
        get => (_fds, _fdp);
        set => (_fds, _fdp) = value;
    }

    /// <summary>Its 11-bit opcode: the low 3 bits of the escape byte and the ModRM byte.</summary>
    public ushort FpuOpcode
    {
        get => _fop;
        set => _fop = (ushort)(value & 0x7FF);
    }

    /// <summary>Sets ST(<paramref name="i"/>) without changing its tag.</summary>
    public void SetFpuStack(int i, Float80 value) => _fpr[(_ftop + i) & 7] = value;

    // ---- reset and init ---------------------------------------------------------------------------

    /// <summary>Power-on and RESET (SDM vol. 3, table 9-1): CW 0040h, SW 0, all tags zero (5555h), registers +0.</summary>
    private void ResetFpu()
    {
        _fcw = 0x0040;
        _fsw = 0;
        _ftop = 0;
        _fvalid = 0xFF;
        Array.Clear(_fpr);
        _fip = _fdp = 0;
        _fcs = _fds = _fop = 0;
        _ignne = false;
        _ferr = false;
    }

    /// <summary>
    /// The INIT signal: the state RESET gives, except that the x87 state is left as it was (SDM
    /// vol. 3, table 9-1, "INIT" column). PC chipsets of the P6 era drive INIT for the soft reset of
    /// the 8042 and port 0x92.
    /// </summary>
    public void Init()
    {
        Span<Float80> regs = stackalloc Float80[8];
        _fpr.AsSpan().CopyTo(regs);
        (ushort cw, ushort sw, int top, byte valid) = (_fcw, _fsw, _ftop, _fvalid);
        (uint ip, uint dp, ushort cs, ushort ds, ushort op, bool ferr, bool ignne) = (_fip, _fdp, _fcs, _fds, _fop, _ferr, _ignne);
        Reset();
        regs.CopyTo(_fpr);
        (_fcw, _fsw, _ftop, _fvalid) = (cw, sw, top, valid);
        (_fip, _fdp, _fcs, _fds, _fop, _ferr, _ignne) = (ip, dp, cs, ds, op, ferr, ignne);
        UpdateFerr(); // CR0.NE is clear again: a pending error drives FERR#
    }

    /// <summary>FNINIT: CW 037Fh, SW 0, every register empty, pointers and opcode 0; register contents stay.</summary>
    private void InitializeFpu()
    {
        _fcw = 0x037F;
        _fsw = 0;
        _ftop = 0;
        _fvalid = 0;
        _fip = _fdp = 0;
        _fcs = _fds = _fop = 0;
        UpdateFerr();
    }

    /// <summary>FERR# follows the status word's ES while CR0.NE is clear (the P6 asserts it as the faulting instruction completes).</summary>
    internal void UpdateFerr()
    {
        bool level = (_fsw & FswEs) != 0 && (_cr0 & CR0_NE) == 0;
        if (level == _ferr) return;
        _ferr = level;
        FerrChanged?.Invoke(level);
    }

    // ---- tags ---------------------------------------------------------------------------------------

    internal static int TagOf(Float80 v)
    {
        if (v.IsZero) return 1;
        if (v.IsNormal) return 0;
        return 2; // NaN, infinity, denormal, pseudo-denormal, unsupported
    }

    internal ushort FullTagWord()
    {
        int tags = 0;
        for (int i = 0; i < 8; i++)
            tags |= ((_fvalid & (1 << i)) == 0 ? 3 : TagOf(_fpr[i])) << (2 * i);
        return (ushort)tags;
    }

    internal static byte ValidFromTagWord(ushort tags)
    {
        int valid = 0;
        for (int i = 0; i < 8; i++)
            if (((tags >> (2 * i)) & 3) != 3) valid |= 1 << i;
        return (byte)valid;
    }

    // ---- the stack ------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int Phys(int i) => (_ftop + i) & 7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsEmpty(int i) => (_fvalid & (1 << Phys(i))) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref Float80 St(int i) => ref _fpr[(_ftop + i) & 7];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetSt(int i, Float80 value)
    {
        int p = (_ftop + i) & 7;
        _fpr[p] = value;
        _fvalid |= (byte)(1 << p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Pop()
    {
        _fvalid &= (byte)~(1 << _ftop);
        _ftop = (_ftop + 1) & 7;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Push(Float80 value)
    {
        _ftop = (_ftop - 1) & 7;
        _fpr[_ftop] = value;
        _fvalid |= (byte)(1 << _ftop);
    }

    // ---- exceptions ---------------------------------------------------------------------------

    /// <summary>
    /// Records an operation's exceptions in the status word. C1 becomes the round-up bit (or 0);
    /// an unmasked exception sets ES and B and is pending until the next waiting instruction.
    /// Returns false when the destination must not be written: an unmasked IE, DE or ZE.
    /// </summary>
    internal bool FpuCommit(in FpContext c)
    {
        int flags = c.Flags;
        ushort sw = (ushort)((_fsw & ~FswC1) | (flags & FpContext.ExceptionMask) | (flags & FpContext.RoundedUp));
        bool unmasked = (flags & ~c.Masks & FpContext.ExceptionMask) != 0;
        if (unmasked) sw |= FswEs | FswB;
        _fsw = sw;
        if (unmasked) UpdateFerr();
        return !c.Stopped;
    }

    /// <summary>Same as <see cref="FpuCommit"/> for a memory destination: an unmasked overflow or underflow also stores nothing.</summary>
    internal bool FpuCommitMemory(in FpContext c)
    {
        bool store = FpuCommit(c);
        return store && (c.Flags & ~c.Masks & (FpContext.OE | FpContext.UE)) == 0;
    }

    internal FpContext NewContext() => new(_fcw);

    /// <summary>Stack overflow or underflow: IE and SF, C1 = 1 for overflow, 0 for underflow. Returns whether the masked response (the indefinite) applies.</summary>
    internal bool StackFault(bool overflow)
    {
        ushort sw = (ushort)((_fsw & ~FswC1) | FpContext.IE | FpContext.SF | (overflow ? FswC1 : 0));
        bool masked = (_fcw & FpContext.IE) != 0;
        if (!masked) sw |= FswEs | FswB;
        _fsw = sw;
        if (!masked) UpdateFerr();
        return masked;
    }

    // ---- instruction prologue ----------------------------------------------------------------

    /// <summary>
    /// What every x87 instruction checks first: #NM when CR0.EM or CR0.TS is set; then, for a
    /// waiting instruction, a pending unmasked exception.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FpuEnter(bool waiting = true)
    {
        if ((_cr0 & (CR0_EM | CR0_TS)) != 0) ThrowFault(ExceptionVectors.DeviceNotAvailable);
        if (waiting && (_fsw & FswEs) != 0) PendingFpuException();
    }

    /// <summary>
    /// A waiting instruction found an unmasked exception pending: #MF with CR0.NE set. With NE
    /// clear (MS-DOS compatibility) the processor freezes before the instruction until an
    /// interrupt comes (FERR# drives IRQ 13 on a PC), unless IGNNE# is asserted, when it goes on.
    /// </summary>
    private void PendingFpuException()
    {
        if ((_cr0 & CR0_NE) != 0) ThrowFault(ExceptionVectors.FpuError);
        if (_ignne) return;
        UpdateFerr();
        // Frozen: the loop halts at this instruction, which runs again after the interrupt handler returns.
        throw new CpuFault(FpuFreezeVector, 0, false);
    }

    /// <summary>Not a vector: the execution loop halts at the instruction instead of delivering anything.</summary>
    internal const int FpuFreezeVector = -1;

    /// <summary>
    /// Records the last instruction (and its memory operand) as every non-control x87
    /// instruction does: CS:EIP of its first prefix, the 11-bit opcode, DS:offset of the operand.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FpuNoteInstruction(ref DecodedInstruction d)
    {
        _fip = _startEip;
        _fcs = S[(int)SegmentRegister.CS].Selector;
        _fop = (ushort)d.Imm2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FpuNoteOperand(ref DecodedInstruction d, uint offset)
    {
        _fdp = offset;
        _fds = S[d.Segment].Selector;
    }
}
