using System.Runtime.CompilerServices;
using Iced.Intel;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Processor;

// The decoded-instruction cache. Each RAM page that has run code owns a DecodedPage: a table from
// page offset to a slot in a growing array of DecodedInstructions. A page is dropped whole when
// anything writes to it, which is what makes self-modifying code work. Instructions that straddle
// two pages, or that run from ROM or device memory, are decoded afresh each time.
public sealed unsafe partial class Cpu
{
    private sealed class DecodedPage
    {
        /// <summary>Slot + 1 of the instruction starting at each offset; 0 when none is decoded.</summary>
        public readonly ushort[] Slots = new ushort[4096];
        public DecodedInstruction[] Entries = new DecodedInstruction[32];
        public int Count;
        /// <summary>Compiled blocks and start counts by slot (the translating core only; null until used).</summary>
        public TranslatedBlock?[]? Blocks;
        public byte[]? Heat;
        public int BlockCount;
        /// <summary>One bit per byte of the page that some cached instruction was decoded from.</summary>
        private readonly ulong[] _covered = new ulong[64];

        public void Cover(int offset, int length)
        {
            for (int i = offset; i < offset + length; i++) _covered[i >> 6] |= 1UL << (i & 63);
        }

        /// <summary>True when a store to [offset, offset + length) would change the bytes of a cached instruction.</summary>
        public bool Overlaps(int offset, int length)
        {
            for (int i = offset; i < offset + length; i++)
                if ((_covered[i >> 6] & (1UL << (i & 63))) != 0) return true;
            return false;
        }
    }

    private readonly DecodedPage?[] _decodePages;

    /// <summary>How many times a page's decoded code was thrown away (self-modifying code, loads): a diagnostic figure.</summary>
    public ulong CodePagesDropped { get; private set; }

    // The page the last instruction came from, so the next fetch from it skips the TLB.
    private DecodedPage? _fetchPage;
    private uint _fetchLinearPage;

    private DecodedInstruction _scratch;
    private readonly GuestCodeReader _codeReader;
    private readonly Decoder _decoder16;
    private readonly Decoder _decoder32;
    private readonly HashSet<uint> _reportedUnimplemented = [];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsCodePage(uint physPage) => physPage < (uint)_decodePages.Length && _decodePages[physPage] is not null;

    /// <summary>
    /// A store reached RAM on a page that holds decoded code: the code is dropped only if the store
    /// touched bytes an instruction was decoded from, so data that shares a page with code (stacks,
    /// variables) costs a slow-path store but never a re-decode.
    /// </summary>
    private void NoteCodePageWrite(uint physical, int size)
    {
        uint page = physical >> 12;
        var decoded = _decodePages[page];
        int offset = (int)(physical & 0xFFF);
        int length = Math.Min(size, 4096 - offset);
        if (decoded is not null && decoded.Overlaps(offset, length)) InvalidateCodePage(page);
    }

    /// <summary>Forgets every decoded instruction on a physical page (it was written).</summary>
    internal void InvalidateCodePage(uint physPage)
    {
        if (physPage >= (uint)_decodePages.Length || _decodePages[physPage] is null) return;
        if (ReferenceEquals(_decodePages[physPage], _fetchPage)) _fetchPage = null;
        ForgetBlocks(_decodePages[physPage]!);
        _decodePages[physPage] = null;
        CodePagesDropped++;
    }

    /// <summary>Forgets all decoded code (after a snapshot restore, for instance).</summary>
    public void InvalidateAllCode()
    {
        Array.Clear(_decodePages);
        ForgetAllBlocks();
        _fetchPage = null;
    }

    private void OnCodeSegmentChanged() => _fetchPage = null;

    /// <summary>The instruction at CS:EIP, decoded (from the cache when possible).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref DecodedInstruction Fetch()
    {
        ref SegmentCache cs = ref S[(int)SegmentRegister.CS];
        uint linear = cs.Base + _eip;
        var page = _fetchPage;
        if (page is not null && (linear >> 12) == _fetchLinearPage)
        {
            int slot = page.Slots[linear & 0xFFF];
            if (slot != 0)
            {
                ref DecodedInstruction d = ref page.Entries[slot - 1];
                if (d.Decoded32 == cs.Big && _eip + d.Length - 1 <= cs.ValidHigh && _eip + d.Length - 1 >= _eip)
                    return ref d;
            }
        }
        return ref FetchSlow(linear);
    }

    private ref DecodedInstruction FetchSlow(uint linear)
    {
        ref SegmentCache cs = ref S[(int)SegmentRegister.CS];
        if (_eip > cs.ValidHigh) throw new CpuFault(ExceptionVectors.GeneralProtection, 0, true);
        bool user = _cpl == 3;
        // Translating here raises #PF for a fetch from an unmapped page before any decoding.
        uint physical = Translate(linear, write: false, user);
        uint physPage = physical >> 12;
        bool cacheable = physical < _ramSize && _memory.KindOf(physical) == PageKind.Ram;

        DecodedPage? page = null;
        if (cacheable)
        {
            page = _decodePages[physPage];
            if (page is null)
            {
                page = new DecodedPage();
                _decodePages[physPage] = page;
                // Stores to this page must now take the slow path, which drops the decoded code.
                FlushTlbWrites();
            }
            _fetchPage = page;
            _fetchLinearPage = linear >> 12;
            int existing = page.Slots[linear & 0xFFF];
            if (existing != 0)
            {
                ref DecodedInstruction cached = ref page.Entries[existing - 1];
                if (cached.Decoded32 == cs.Big)
                {
                    CheckCodeLimit(cached.Length);
                    return ref cached;
                }
            }
        }

        Instruction instruction = DecodeAt(linear, cs.Big);
        int length = instruction.Length;
        CheckCodeLimit(length);
        bool straddles = (linear & 0xFFF) + (uint)length > 4096;
        if (page is null || straddles)
        {
            Translate(instruction, ref _scratch, cs.Big);
            return ref _scratch;
        }

        int slotIndex = page.Slots[linear & 0xFFF];
        if (slotIndex == 0)
        {
            if (page.Count == page.Entries.Length)
                Array.Resize(ref page.Entries, page.Entries.Length * 2);
            slotIndex = ++page.Count;
            page.Slots[linear & 0xFFF] = (ushort)slotIndex;
        }
        ref DecodedInstruction entry = ref page.Entries[slotIndex - 1];
        Translate(instruction, ref entry, cs.Big);
        page.Cover((int)(linear & 0xFFF), length);
        return ref entry;
    }

    private void CheckCodeLimit(int length)
    {
        if (length == 0) length = 1; // an undecodable byte: #UD comes from its handler, after this check
        ref SegmentCache cs = ref S[(int)SegmentRegister.CS];
        uint last = _eip + (uint)length - 1;
        if (last > cs.ValidHigh || last < _eip) throw new CpuFault(ExceptionVectors.GeneralProtection, 0, true);
    }

    private Instruction DecodeAt(uint linear, bool code32)
    {
        _codeReader.Reset(linear);
        var decoder = code32 ? _decoder32 : _decoder16;
        decoder.IP = _eip;
        decoder.Decode(out Instruction instruction);
        // More than 15 bytes of prefixes and opcode: #GP, as on real processors.
        if (instruction.Code == Iced.Intel.Code.INVALID && decoder.LastError == DecoderError.NoMoreBytes)
            throw new CpuFault(ExceptionVectors.GeneralProtection, 0, true);
        return instruction;
    }

    /// <summary>Feeds Iced the bytes at a linear address through the CPU's own translation.</summary>
    private sealed class GuestCodeReader(Cpu cpu) : CodeReader
    {
        private uint _linear;
        private int _read;
        /// <summary>The bytes of the instruction being decoded (x87 instructions keep their opcode).</summary>
        public readonly byte[] Bytes = new byte[15];

        public int Count => _read;

        public void Reset(uint linear)
        {
            _linear = linear;
            _read = 0;
        }

        public override int ReadByte()
        {
            // x86 instructions are at most 15 bytes; a longer one ends as "no more bytes".
            if (_read >= 15) return -1;
            byte b = cpu.FetchLinear8(_linear + (uint)_read);
            Bytes[_read++] = b;
            return b;
        }
    }
}
