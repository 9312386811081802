using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// MOVS CMPS SCAS LODS STOS INS OUTS. The source is seg:(E)SI (DS unless overridden), the
// destination ES:(E)DI; the address size picks SI/DI/CX or ESI/EDI/ECX. A REP-prefixed form does
// ONE iteration per execution and, while iterations remain, sets EIP back to the instruction so
// that the execution loop runs it again: each iteration is one position, and interrupts can
// arrive between iterations. MOVS/STOS/LODS/INS/OUTS treat F2 as F3.
public sealed unsafe partial class Cpu
{
    internal interface IAddressSize
    {
        static abstract uint Mask { get; }
        static abstract uint Get(Cpu c, int reg);
        static abstract void Set(Cpu c, int reg, uint value);
    }

    internal struct A16 : IAddressSize
    {
        public static uint Mask => 0xFFFF;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Get(Cpu c, int reg) => c.R[reg] & 0xFFFF;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Set(Cpu c, int reg, uint value) => c.R[reg] = (c.R[reg] & 0xFFFF_0000) | (value & 0xFFFF);
    }

    internal struct A32 : IAddressSize
    {
        public static uint Mask => 0xFFFF_FFFF;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Get(Cpu c, int reg) => c.R[reg];
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Set(Cpu c, int reg, uint value) => c.R[reg] = value;
    }

    private const int ES_ = (int)SegmentRegister.ES;

    /// <summary>+size or -size as DF says.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint StringDelta<W>() where W : struct, IOperandWidth
        => (_flags & DF) != 0 ? (uint)-(W.Bits / 8) : (uint)(W.Bits / 8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnyRep(ref DecodedInstruction d) => (d.Flags & (DecodedFlags.Rep | DecodedFlags.Repne)) != 0;

    /// <summary>After one REP iteration: count down, and run the instruction again while the count is not 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RepeatStep<A>() where A : struct, IAddressSize
    {
        A.Set(this, ECX, A.Get(this, ECX) - 1);
        if (A.Get(this, ECX) != 0) _eip = _startEip;
    }

    // ---- MOVS ----------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MovsCore<W, A>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth where A : struct, IAddressSize
    {
        bool rep = AnyRep(ref d);
        if (rep && A.Get(c, ECX) == 0) return;
        uint si = A.Get(c, ESI), di = A.Get(c, EDI);
        uint v = W.ReadLinear(c, c.LinearRead(d.Segment, si, (uint)W.Bits / 8));
        W.WriteLinear(c, c.LinearWrite(ES_, di, (uint)W.Bits / 8), v);
        uint delta = c.StringDelta<W>();
        A.Set(c, ESI, si + delta);
        A.Set(c, EDI, di + delta);
        if (rep) c.RepeatStep<A>();
    }

    private static void Movs<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.AddrSize32) MovsCore<W, A32>(c, ref d);
        else MovsCore<W, A16>(c, ref d);
    }

    // ---- STOS ----------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StosCore<W, A>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth where A : struct, IAddressSize
    {
        bool rep = AnyRep(ref d);
        if (rep && A.Get(c, ECX) == 0) return;
        uint di = A.Get(c, EDI);
        W.WriteLinear(c, c.LinearWrite(ES_, di, (uint)W.Bits / 8), W.GetReg(c, EAX));
        A.Set(c, EDI, di + c.StringDelta<W>());
        if (rep) c.RepeatStep<A>();
    }

    private static void Stos<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.AddrSize32) StosCore<W, A32>(c, ref d);
        else StosCore<W, A16>(c, ref d);
    }

    // ---- LODS ----------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LodsCore<W, A>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth where A : struct, IAddressSize
    {
        bool rep = AnyRep(ref d);
        if (rep && A.Get(c, ECX) == 0) return;
        uint si = A.Get(c, ESI);
        uint v = W.ReadLinear(c, c.LinearRead(d.Segment, si, (uint)W.Bits / 8));
        W.SetReg(c, EAX, v);
        A.Set(c, ESI, si + c.StringDelta<W>());
        if (rep) c.RepeatStep<A>();
    }

    private static void Lods<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.AddrSize32) LodsCore<W, A32>(c, ref d);
        else LodsCore<W, A16>(c, ref d);
    }

    // ---- CMPS and SCAS: REPE (F3) stops when ZF = 0, REPNE (F2) when ZF = 1 -----------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RepeatCompare<A>(ref DecodedInstruction d) where A : struct, IAddressSize
    {
        A.Set(this, ECX, A.Get(this, ECX) - 1);
        if (A.Get(this, ECX) == 0) return;
        bool zf = (_flags & ZF) != 0;
        bool repne = (d.Flags & DecodedFlags.Repne) != 0;
        if (zf != repne) _eip = _startEip;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CmpsCore<W, A>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth where A : struct, IAddressSize
    {
        bool rep = AnyRep(ref d);
        if (rep && A.Get(c, ECX) == 0) return;
        uint si = A.Get(c, ESI), di = A.Get(c, EDI);
        uint a = W.ReadLinear(c, c.LinearRead(d.Segment, si, (uint)W.Bits / 8));
        uint b = W.ReadLinear(c, c.LinearRead(ES_, di, (uint)W.Bits / 8));
        c.SubWithFlags<W>(a, b, 0);
        uint delta = c.StringDelta<W>();
        A.Set(c, ESI, si + delta);
        A.Set(c, EDI, di + delta);
        if (rep) c.RepeatCompare<A>(ref d);
    }

    private static void Cmps<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.AddrSize32) CmpsCore<W, A32>(c, ref d);
        else CmpsCore<W, A16>(c, ref d);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScasCore<W, A>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth where A : struct, IAddressSize
    {
        bool rep = AnyRep(ref d);
        if (rep && A.Get(c, ECX) == 0) return;
        uint di = A.Get(c, EDI);
        uint b = W.ReadLinear(c, c.LinearRead(ES_, di, (uint)W.Bits / 8));
        c.SubWithFlags<W>(W.GetReg(c, EAX), b, 0);
        A.Set(c, EDI, di + c.StringDelta<W>());
        if (rep) c.RepeatCompare<A>(ref d);
    }

    private static void Scas<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.AddrSize32) ScasCore<W, A32>(c, ref d);
        else ScasCore<W, A16>(c, ref d);
    }

    // ---- INS and OUTS: the I/O permission check comes first, then the memory checks, then the port ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InsCore<W, A>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth where A : struct, IAddressSize
    {
        bool rep = AnyRep(ref d);
        if (rep && A.Get(c, ECX) == 0) return;
        ushort port = (ushort)c.R[EDX];
        c.CheckIoPermission(port, W.Bits / 8);
        uint di = A.Get(c, EDI);
        // Check the destination before the port is read, so a faulting INS does not consume input.
        uint lin = c.LinearWrite(ES_, di, (uint)W.Bits / 8);
        c.ProbeWrite(lin, W.Bits / 8);
        uint v = c._bus.PortRead(port, W.Bits / 8) & W.Mask;
        W.WriteLinear(c, lin, v);
        A.Set(c, EDI, di + c.StringDelta<W>());
        if (rep) c.RepeatStep<A>();
    }

    private static void Ins<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.AddrSize32) InsCore<W, A32>(c, ref d);
        else InsCore<W, A16>(c, ref d);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OutsCore<W, A>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth where A : struct, IAddressSize
    {
        bool rep = AnyRep(ref d);
        if (rep && A.Get(c, ECX) == 0) return;
        ushort port = (ushort)c.R[EDX];
        c.CheckIoPermission(port, W.Bits / 8);
        uint si = A.Get(c, ESI);
        uint v = W.ReadLinear(c, c.LinearRead(d.Segment, si, (uint)W.Bits / 8));
        c._bus.PortWrite(port, W.Bits / 8, v);
        A.Set(c, ESI, si + c.StringDelta<W>());
        if (rep) c.RepeatStep<A>();
    }

    private static void Outs<W>(Cpu c, ref DecodedInstruction d) where W : struct, IOperandWidth
    {
        if (d.AddrSize32) OutsCore<W, A32>(c, ref d);
        else OutsCore<W, A16>(c, ref d);
    }

    static partial void RegisterStrings(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        Set(t, "Movsb_m8_m8", &Movs<W8>);
        Set(t, "Movsw_m16_m16", &Movs<W16>);
        Set(t, "Movsd_m32_m32", &Movs<W32>);
        Set(t, "Cmpsb_m8_m8", &Cmps<W8>);
        Set(t, "Cmpsw_m16_m16", &Cmps<W16>);
        Set(t, "Cmpsd_m32_m32", &Cmps<W32>);
        Set(t, "Stosb_m8_AL", &Stos<W8>);
        Set(t, "Stosw_m16_AX", &Stos<W16>);
        Set(t, "Stosd_m32_EAX", &Stos<W32>);
        Set(t, "Lodsb_AL_m8", &Lods<W8>);
        Set(t, "Lodsw_AX_m16", &Lods<W16>);
        Set(t, "Lodsd_EAX_m32", &Lods<W32>);
        Set(t, "Scasb_AL_m8", &Scas<W8>);
        Set(t, "Scasw_AX_m16", &Scas<W16>);
        Set(t, "Scasd_EAX_m32", &Scas<W32>);
        Set(t, "Insb_m8_DX", &Ins<W8>);
        Set(t, "Insw_m16_DX", &Ins<W16>);
        Set(t, "Insd_m32_DX", &Ins<W32>);
        Set(t, "Outsb_DX_m8", &Outs<W8>);
        Set(t, "Outsw_DX_m16", &Outs<W16>);
        Set(t, "Outsd_DX_m32", &Outs<W32>);
    }
}
