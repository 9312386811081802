using Iced.Intel;
using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// The translation cache. A block is a run of instructions already in a page's decoded-instruction
// cache, straight-line up to and including its first control transfer or mode-changing
// instruction, compiled to one DynamicMethod (Cpu.BlockCompiler.cs). Blocks live in the
// DecodedPage they were built from, beside the entries they copy, so everything that drops decoded
// code (a store over its bytes, a DMA write, a snapshot restore) drops its blocks with it.
//
// Why the key is (physical page, offset, code-segment D bit) and nothing more: the compiled code
// calls the interpreter's handlers, which read the CPL, CR0, paging, A20 and the x87 state at run
// time exactly as they do when interpreted; only the decoding depends on the D bit. The linear
// page the block is entered from is the one the interpreter's own fetch validated (_fetchPage is
// dropped by CR3 writes, INVLPG, CPL and CS changes and TLB flushes), and the block leaves as soon
// as _fetchPage changes under it.
public sealed unsafe partial class Cpu
{
    /// <summary>Which core <see cref="Run"/> uses. Switching is allowed between runs: both keep the same state.</summary>
    public CpuCore Core { get; set; }

    /// <summary>Times an instruction must start a run of the loop before a block is compiled from it (1: on its first repeat).</summary>
    public int TranslateThreshold
    {
        get => _translateThreshold;
        set => _translateThreshold = Math.Clamp(value, 1, 255);
    }
    private int _translateThreshold = 8;

    /// <summary>Most instructions the cache holds; reaching it drops every block (they are compiled again as they heat up).</summary>
    public int TranslationCacheLimit { get; set; } = 256 * 1024;

    /// <summary>Optional observer of compilation (its timing is the host's business, not the guest's).</summary>
    public ITranslationProfiler? TranslationProfiler { get; set; }

    private const int MaxBlockInstructions = 64;

    /// <summary>The position the running block must not pass: a loop inside it goes round again only while its whole length still fits.</summary>
    internal ulong _blockUntil;

    private int _liveBlocks, _liveBlockInstructions;
    private ulong _blocksTranslated, _blocksShared, _instructionsTranslated, _instructionsInlined, _ilBytes, _blocksInvalidated, _cacheFlushes, _blockRuns, _retiredInBlocks;

    public TranslationStatistics Translation => new(_blocksTranslated, _blocksShared, _instructionsTranslated, _instructionsInlined, _ilBytes, _liveBlocks,
        _liveBlockInstructions, _blocksInvalidated, _cacheFlushes, _blockRuns, _retiredInBlocks);

    /// <summary>A compiled block: the copies of its decoded instructions, where each starts, and the method that runs them.</summary>
    internal sealed class TranslatedBlock(DecodedInstruction[] instructions, int[] offsets, int low, int high, bool code32)
    {
        public readonly DecodedInstruction[] Instructions = instructions;
        /// <summary>Each instruction's start, in bytes from the first one's (a followed jump may go backwards).</summary>
        public readonly int[] Offsets = offsets;
        /// <summary>The bytes the block covers, from the entry: [Low, High), Low &lt;= 0.</summary>
        public readonly int Low = low, High = high;
        public readonly bool Code32 = code32;
        public BlockCode Code = null!;
        public int Count => Instructions.Length;
    }

    internal delegate void BlockCode(Cpu cpu);

    /// <summary>
    /// Runs the block that starts at CS:EIP, if one is compiled (or now hot enough to compile) and
    /// its whole length fits before <paramref name="untilPosition"/>; false leaves the instruction to
    /// the interpreter. Called where the interpreter would fetch, with the interrupt shadow consumed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryRunBlock(ulong untilPosition)
    {
        // An interrupt already deliverable here waited out a shadow (STI, MOV SS): it comes after this
        // one instruction, and a block checks for interrupts only after instructions that call handlers.
        if (_interruptLine && (_flags & IF) != 0) return false;
        var page = _fetchPage;
        if (page is null) return false;
        ref SegmentCache cs = ref S[(int)SegmentRegister.CS];
        uint linear = cs.Base + _eip;
        if ((linear >> 12) != _fetchLinearPage) return false;
        int slot = page.Slots[linear & 0xFFF];
        if (slot == 0) return false;
        var blocks = page.Blocks;
        var block = blocks is not null && slot <= blocks.Length ? blocks[slot - 1] : null;
        if (block is null || block.Code32 != cs.Big)
        {
            block = HeatUp(page, slot, linear);
            if (block is null) return false;
        }
        if (_position + (ulong)block.Count > untilPosition) return false;
        // The limit check the interpreter's fetch makes for each instruction, made once for all.
        uint last = _eip + (uint)block.High - 1;
        if (last > cs.ValidHigh || last < _eip || (!cs.Big && last >= 0xFFFF) || _eip < (uint)-block.Low) return false;
        // Post-mortem diagnostics note the block's first instruction only (the rest keep older entries).
        _recent[(int)_position & (RecentCount - 1)] = linear;
        ulong before = _position;
        _blockUntil = untilPosition;
        _blockRuns++;
        block.Code(this);
        _retiredInBlocks += _position - before;
        return true;
    }

    /// <summary>Counts one more start at this instruction; compiles the block there once it is hot.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslatedBlock? HeatUp(DecodedPage page, int slot, uint linear)
    {
        if (page.Heat is null || page.Heat.Length < page.Entries.Length)
        {
            Array.Resize(ref page.Heat, page.Entries.Length);
            Array.Resize(ref page.Blocks, page.Entries.Length);
        }
        ref byte heat = ref page.Heat[slot - 1];
        if (heat < 255) heat++;
        if (heat < _translateThreshold) return null;
        heat = 0;
        var block = BuildBlock(page, linear);
        if (block is null) return null;
        if (_liveBlockInstructions + block.Count > TranslationCacheLimit) FlushTranslations();
        var old = page.Blocks![slot - 1];
        if (old is not null)
        {
            // The entry was decoded again for the other code-segment size: the old block goes.
            _liveBlocks--;
            _liveBlockInstructions -= old.Count;
            page.BlockCount--;
        }
        page.Blocks[slot - 1] = block;
        page.BlockCount++;
        _liveBlocks++;
        _liveBlockInstructions += block.Count;
        return block;
    }

    /// <summary>
    /// Collects the run from <paramref name="linear"/> out of the page's decoded entries (only
    /// instructions the interpreter has already decoded, so the bytes covered for self-modifying-code
    /// detection are the interpreter's own) and compiles it. In 32-bit code the run goes on past a
    /// Jcc (its taken side leaves the block, or loops back inside it) and follows a JMP rel to a
    /// decoded instruction of the same page not yet in the block; it ends at any other control
    /// transfer, a mode-changing instruction, a REP string instruction or the page's end.
    /// </summary>
    private TranslatedBlock? BuildBlock(DecodedPage page, uint linear)
    {
        bool code32 = S[(int)SegmentRegister.CS].Big;
        Span<int> slots = stackalloc int[MaxBlockInstructions];
        Span<int> starts = stackalloc int[MaxBlockInstructions];
        int count = 0;
        int start = (int)(linear & 0xFFF);
        int offset = start;
        int low = 0, high = 0;
        while (count < MaxBlockInstructions && offset < 4096)
        {
            int slot = page.Slots[offset];
            if (slot == 0 || starts[..count].Contains(offset - start)) break;
            ref DecodedInstruction d = ref page.Entries[slot - 1];
            if (d.Decoded32 != code32 || d.Length == 0) break;
            slots[count] = slot;
            starts[count++] = offset - start;
            low = Math.Min(low, offset - start);
            high = Math.Max(high, offset + d.Length - start);
            int next = offset + d.Length;
            if ((d.Flags & (DecodedFlags.Rep | DecodedFlags.Repne)) != 0) break;
            if (code32 && d.OpSize32 && IsJumpRel((Code)d.Code))
            {
                offset = next + (int)d.Imm; // followed if decoded and new; otherwise the block ends here
                if (offset < 0 || offset >= 4096) break;
                continue;
            }
            if (code32 && d.OpSize32 && ((Code)d.Code).IsJccShortOrNear() && Handlers[d.Code] != null)
            {
                offset = next;
                continue;
            }
            if (EndsBlock[d.Code]) break;
            offset = next;
        }
        if (count == 0) return null;
        var instructions = new DecodedInstruction[count];
        for (int i = 0; i < count; i++) instructions[i] = page.Entries[slots[i] - 1];
        var block = new TranslatedBlock(instructions, starts[..count].ToArray(), low, high, code32);
        var key = new SharedBlockKey(instructions);
        if (SharedCode.TryGet(key, out var shared))
        {
            // The same instructions compiled by this or another machine in the process: the code
            // depends on nothing else (the CPU and the instruction copies are its arguments).
            _blocksShared++;
        }
        else
        {
            TranslationProfiler?.CompileStarted();
            var method = CompileBlock(block, out int ilBytes, out int inlined);
            TranslationProfiler?.CompileFinished(count);
            shared = new SharedBlock(method, inlined);
            SharedCode.Add(key, shared);
            _ilBytes += (ulong)ilBytes;
        }
        block.Code = shared.Method.CreateDelegate<BlockCode>(instructions);
        _instructionsInlined += (ulong)shared.Inlined;
        _blocksTranslated++;
        _instructionsTranslated += (ulong)count;
        return block;
    }

    private static bool IsJumpRel(Code code) => code is Code.Jmp_rel8_32 or Code.Jmp_rel32_32 or Code.Jmp_rel8_16 or Code.Jmp_rel16;

    /// <summary>The cache is full: every block goes (QEMU's tb_flush); hot code compiles again.</summary>
    private void FlushTranslations()
    {
        foreach (var page in _decodePages)
        {
            if (page?.Blocks is null) continue;
            Array.Clear(page.Blocks);
            page.BlockCount = 0;
        }
        _liveBlocks = 0;
        _liveBlockInstructions = 0;
        _cacheFlushes++;
    }

    /// <summary>A page's decoded code was dropped: so were its blocks.</summary>
    private void ForgetBlocks(DecodedPage page)
    {
        if (page.BlockCount == 0) return;
        foreach (var block in page.Blocks!)
        {
            if (block is null) continue;
            _liveBlocks--;
            _liveBlockInstructions -= block.Count;
            _blocksInvalidated++;
        }
        page.BlockCount = 0;
    }

    private void ForgetAllBlocks()
    {
        _liveBlocks = 0;
        _liveBlockInstructions = 0;
    }
}
