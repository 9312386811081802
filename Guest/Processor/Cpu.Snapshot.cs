namespace VmFt.Guest.Processor;

// The CPU's state as bytes: SaveState/LoadState for snapshots, StateHash for the periodic state
// hashes that prove a backup identical to its primary. One visitor walks every field in a fixed
// order for all three, so what is hashed is exactly what is saved and restored.
//
// Layout (little-endian): version byte, EAX..EDI, EIP, EFLAGS, ES CS SS DS FS GS, LDTR, TR (each
// selector u16, base u32, limit u32, access u8, D/B u8, G u8, usable u8), GDTR and IDTR (base u32,
// limit u16), CR0 CR2 CR3 CR4, DR0..DR7, SYSENTER_CS/ESP/EIP u64, TSC offset u64, BIOS_SIGN_ID u64,
// CPL u8, halted u8, interrupt shadow u8, INTR pin u8, A20 u8, shutdown u8, position u64; then the
// x87: R0..R7 (significand u64, sign/exponent u16), FCW, FSW without TOP, TOP u8, valid-register
// mask u8, FIP u32, FCS u16, FDP u32, FDS u16, FOP u16, FERR# u8, IGNNE# u8.
// Bump StateVersion whenever a field is added, removed or reordered.
public sealed unsafe partial class Cpu
{
    public const byte StateVersion = 3;

    private interface IStateVisitor
    {
        void U8(ref byte value);
        void U16(ref ushort value);
        void U32(ref uint value);
        void U64(ref ulong value);
        void Bool(ref bool value);
    }

    private struct SaveVisitor(BinaryWriter writer) : IStateVisitor
    {
        public void U8(ref byte value) => writer.Write(value);
        public void U16(ref ushort value) => writer.Write(value);
        public void U32(ref uint value) => writer.Write(value);
        public void U64(ref ulong value) => writer.Write(value);
        public void Bool(ref bool value) => writer.Write(value ? (byte)1 : (byte)0);
    }

    private struct LoadVisitor(BinaryReader reader) : IStateVisitor
    {
        public void U8(ref byte value) => value = reader.ReadByte();
        public void U16(ref ushort value) => value = reader.ReadUInt16();
        public void U32(ref uint value) => value = reader.ReadUInt32();
        public void U64(ref ulong value) => value = reader.ReadUInt64();

        public void Bool(ref bool value)
        {
            long at = reader.BaseStream.CanSeek ? reader.BaseStream.Position : -1;
            byte b = reader.ReadByte();
            if (b > 1) throw new InvalidDataException($"CPU state: byte 0x{b:X2} at offset {at} should be a flag (0 or 1)");
            value = b == 1;
        }
    }

    /// <summary>FNV-1a, 64-bit, over the same bytes <see cref="SaveState"/> writes.</summary>
    private struct HashVisitor : IStateVisitor
    {
        public ulong Hash;

        private void Add(ulong value, int bytes)
        {
            ulong h = Hash;
            for (int i = 0; i < bytes; i++)
            {
                h ^= (byte)(value >> (8 * i));
                h *= 0x0000_0100_0000_01B3UL;
            }
            Hash = h;
        }

        public void U8(ref byte value) => Add(value, 1);
        public void U16(ref ushort value) => Add(value, 2);
        public void U32(ref uint value) => Add(value, 4);
        public void U64(ref ulong value) => Add(value, 8);
        public void Bool(ref bool value) => Add(value ? 1u : 0u, 1);
    }

    private void VisitState<T>(ref T v) where T : struct, IStateVisitor
    {
        byte version = StateVersion;
        v.U8(ref version);
        if (version != StateVersion)
            throw new InvalidDataException($"CPU state: version {version} (its first byte) is not supported (this build reads version {StateVersion})");
        for (int i = 0; i < 8; i++) v.U32(ref R[i]);
        v.U32(ref _eip);
        v.U32(ref _flags);
        for (int i = 0; i < 6; i++) VisitSegment(ref v, ref S[i]);
        VisitSegment(ref v, ref _ldtr);
        VisitSegment(ref v, ref _tr);
        uint gdtBase = _gdtr.Base, idtBase = _idtr.Base;
        ushort gdtLimit = _gdtr.Limit, idtLimit = _idtr.Limit;
        v.U32(ref gdtBase);
        v.U16(ref gdtLimit);
        v.U32(ref idtBase);
        v.U16(ref idtLimit);
        _gdtr = new DescriptorTableRegister(gdtBase, gdtLimit);
        _idtr = new DescriptorTableRegister(idtBase, idtLimit);
        v.U32(ref _cr0);
        v.U32(ref _cr2);
        v.U32(ref _cr3);
        v.U32(ref _cr4);
        for (int i = 0; i < 8; i++) v.U32(ref _dr[i]);
        v.U64(ref _sysenterCs);
        v.U64(ref _sysenterEsp);
        v.U64(ref _sysenterEip);
        v.U64(ref _tscOffset);
        v.U64(ref _biosSignId);
        byte cpl = (byte)_cpl;
        v.U8(ref cpl);
        _cpl = cpl & 3;
        v.Bool(ref _halted);
        v.Bool(ref _interruptShadow);
        v.Bool(ref _interruptLine);
        v.Bool(ref _a20);
        v.Bool(ref _shutdown);
        v.U64(ref _position);
        VisitFpu(ref v);
    }

    private void VisitFpu<T>(ref T v) where T : struct, IStateVisitor
    {
        for (int i = 0; i < 8; i++)
        {
            ulong sig = _fpr[i].Significand;
            ushort se = _fpr[i].SignExponent;
            v.U64(ref sig);
            v.U16(ref se);
            _fpr[i] = new X87.Float80(sig, se);
        }
        v.U16(ref _fcw);
        v.U16(ref _fsw);
        byte top = (byte)_ftop;
        v.U8(ref top);
        _ftop = top & 7;
        v.U8(ref _fvalid);
        v.U32(ref _fip);
        v.U16(ref _fcs);
        v.U32(ref _fdp);
        v.U16(ref _fds);
        v.U16(ref _fop);
        v.Bool(ref _ferr);
        v.Bool(ref _ignne);
    }

    private static void VisitSegment<T>(ref T v, ref SegmentCache s) where T : struct, IStateVisitor
    {
        v.U16(ref s.Selector);
        v.U32(ref s.Base);
        v.U32(ref s.Limit);
        v.U8(ref s.Access);
        v.Bool(ref s.Big);
        v.Bool(ref s.Granular);
        v.Bool(ref s.Usable);
    }

    /// <summary>Writes the complete CPU state (see the layout above).</summary>
    public void SaveState(BinaryWriter writer)
    {
        var v = new SaveVisitor(writer);
        VisitState(ref v);
    }

    /// <summary>
    /// Restores a state written by <see cref="SaveState"/>. Translations and decoded code are thrown
    /// away, since they depend on memory the caller restores separately. Throws
    /// <see cref="InvalidDataException"/> for a version it does not understand or a malformed flag.
    /// </summary>
    public void LoadState(BinaryReader reader)
    {
        var v = new LoadVisitor(reader);
        VisitState(ref v);
        for (int i = 0; i < 6; i++) S[i].Refresh(S[i].Usable);
        _ldtr.Refresh(_ldtr.Usable);
        _tr.Refresh(_tr.Usable);
        _a20Mask = _a20 ? 0xFFFF_FFFFu : ~(1u << 20);
        _stopRequested = false;
        SetCpl(_cpl);
        FlushTlb(global: true);
        InvalidateAllCode();
    }

    /// <summary>A 64-bit FNV-1a hash of the CPU state, over exactly the bytes <see cref="SaveState"/> writes; no allocation.</summary>
    public ulong StateHash(ulong seed = 0xCBF2_9CE4_8422_2325UL)
    {
        var v = new HashVisitor { Hash = seed };
        VisitState(ref v);
        return v.Hash;
    }
}
