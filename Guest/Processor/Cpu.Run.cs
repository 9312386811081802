namespace VmFt.Guest.Processor;

// The execution loop: between instructions it samples the INTR pin, then fetches, executes and
// retires one instruction (or one iteration of a REP string instruction). A fault unwinds to here,
// the instruction's starting state is restored, and the exception is delivered.
public sealed unsafe partial class Cpu
{
    private bool _shutdown;

    /// <summary>Exceptions delivered at one position, with no instruction retired, before the CPU gives up.</summary>
    internal const int FaultLoopLimit = 100_000;
    private uint _startFlags;

    // Linear addresses of the last instructions started, for post-mortem diagnostics.
    private const int RecentCount = 16;
    private readonly uint[] _recent = new uint[RecentCount];

    /// <summary>The last instructions started (oldest first), disassembled: "linear: bytes  mnemonic".</summary>
    public IReadOnlyList<string> RecentInstructions()
    {
        var lines = new List<string>();
        int count = (int)Math.Min(_position + 1, RecentCount);
        var formatter = new Iced.Intel.NasmFormatter();
        var output = new Iced.Intel.StringOutput();
        Span<byte> bytes = stackalloc byte[15];
        for (int i = count - 1; i >= 0; i--)
        {
            uint linear = _recent[(int)((_position - (ulong)i) & (RecentCount - 1))];
            int n = 15;
            while (n > 0 && !TryReadLinear(linear, bytes[..n])) n--;
            if (n == 0)
            {
                lines.Add($"{linear:X8}: (unmapped)");
                continue;
            }
            var decoder = Iced.Intel.Decoder.Create(Code32 ? 32 : 16, bytes[..n].ToArray());
            decoder.IP = linear;
            decoder.Decode(out var instruction);
            formatter.Format(instruction, output);
            lines.Add($"{linear:X8}: {Convert.ToHexString(bytes[..instruction.Length])}  {output.ToStringAndReset()}");
        }
        return lines;
    }

    /// <summary>
    /// Runs until <see cref="Position"/> reaches <paramref name="untilPosition"/>, HLT executes, the
    /// processor shuts down (triple fault) or <see cref="RequestStop"/> is called. A halted CPU wakes
    /// when <see cref="InterruptLine"/> is high and IF is set.
    /// </summary>
    public CpuExit Run(ulong untilPosition)
    {
        _stopRequested = false;
        if (_shutdown) return CpuExit.Shutdown;
        ulong faultPosition = ulong.MaxValue;
        int faultsHere = 0;
        while (true)
        {
            try
            {
                // Two copies of the loop, so that a run without a debugger pays nothing for one.
                // The translator only runs without a debugger attached: traps are checked per instruction.
                if (_traps is not null) return RunLoop<WithTraps, Interpreted>(untilPosition);
                return Core == CpuCore.Translator ? RunLoop<WithoutTraps, Translated>(untilPosition) : RunLoop<WithoutTraps, Interpreted>(untilPosition);
            }
            catch (CpuFault fault)
            {
                // An exception whose handler faults again before retiring anything (a handler that
                // is itself UD2, an IVT entry past the segment limit) would spin here forever, and
                // positions never move, so nothing outside could stop it: call it a shutdown.
                if (_position == faultPosition && ++faultsHere >= FaultLoopLimit)
                {
                    Shutdown($"exception loop: {faultsHere} exceptions ({ExceptionVectors.Name(fault.Vector)} last) without retiring an instruction");
                    return CpuExit.Shutdown;
                }
                if (_position != faultPosition)
                {
                    faultPosition = _position;
                    faultsHere = 0;
                }
                // Restart semantics: the faulting instruction leaves no trace but what it wrote to memory.
                _eip = _startEip;
                R[ESP] = _startEsp;
                _flags = _startFlags;
                if (fault.Vector == FpuFreezeVector)
                {
                    _halted = true; // a waiting x87 instruction froze on a pending exception (CR0.NE clear)
                    continue;
                }
                DeliverException(fault.Vector, fault.HasErrorCode, fault.ErrorCode);
                if (_shutdown) return CpuExit.Shutdown;
                if (_stopRequested) return CpuExit.StopRequested;
            }
        }
    }

    private interface ITrapCheck
    {
        static abstract bool Enabled { get; }
    }

    private struct WithoutTraps : ITrapCheck
    {
        public static bool Enabled => false;
    }

    private struct WithTraps : ITrapCheck
    {
        public static bool Enabled => true;
    }

    private interface ICoreChoice
    {
        static abstract bool Translates { get; }
    }

    private struct Interpreted : ICoreChoice
    {
        public static bool Translates => false;
    }

    private struct Translated : ICoreChoice
    {
        public static bool Translates => true;
    }

    private CpuExit RunLoop<TTraps, TCore>(ulong untilPosition) where TTraps : struct, ITrapCheck where TCore : struct, ICoreChoice
    {
        while (true)
        {
            // The shadow (after STI, MOV SS, POP SS) covers the next instruction: it is consumed when
            // that instruction runs, not when Run returns in between.
            if (_interruptLine && (_flags & IF) != 0 && !_interruptShadow)
            {
                _halted = false;
                _startEip = _eip;
                _startEsp = R[ESP];
                _startFlags = _flags;
                byte vector = _bus.AcknowledgeInterrupt();
                _traps?.OnExternalInterrupt(_position, vector, S[(int)SegmentRegister.CS].Base + _eip, S[(int)SegmentRegister.CS].Selector, R[ESP]);
                DeliverInterrupt(vector, InterruptSource.External, hasErrorCode: false, errorCode: 0);
                if (_shutdown) return CpuExit.Shutdown;
            }
            if (_halted) return CpuExit.Halted;
            if (_position >= untilPosition) return CpuExit.PositionReached;
            if (TTraps.Enabled && TrapDue()) return CpuExit.DebugTrap;
            _interruptShadow = false;

            // A block starts only where TF is clear: a single-step trap comes after each instruction.
            if (TCore.Translates && (_flags & TF) == 0 && TryRunBlock(untilPosition))
            {
                if (_stopRequested) return CpuExit.StopRequested;
                continue;
            }

            _startEip = _eip;
            _startEsp = R[ESP];
            _startFlags = _flags;
            _recent[(int)_position & (RecentCount - 1)] = S[(int)SegmentRegister.CS].Base + _eip;
            ref DecodedInstruction d = ref Fetch();
            uint next = _eip + d.Length;
            _eip = d.Decoded32 ? next : next & 0xFFFF;
            d.Handler(this, ref d);
            _position++;

            if ((_startFlags & TF) != 0) SingleStepTrap();
            if (_stopRequested) return CpuExit.StopRequested;
        }
    }

    /// <summary>A debugger's trap fires here: a watchpoint touched by the last instruction, or a breakpoint on the next.</summary>
    private bool TrapDue()
    {
        var traps = _traps!;
        if (traps.Hit is null && traps.HasBreakpoints)
        {
            uint linear = S[(int)SegmentRegister.CS].Base + _eip;
            if (traps.IsBreakpoint(linear, _position)) traps.Hit = new TrapHit(TrapKind.Breakpoint, linear, WatchKind.Access, _position);
        }
        if (traps.Hit is null) return false;
        traps.Hit = traps.Hit with { Position = _position };
        return true;
    }

    /// <summary>TF was set when the instruction began: #DB after it, as a trap.</summary>
    private void SingleStepTrap()
    {
        _dr[6] |= 1u << 14; // BS
        _startEip = _eip;
        _startEsp = R[ESP];
        _startFlags = _flags;
        DeliverInterrupt(ExceptionVectors.Debug, InterruptSource.Exception, false, 0);
    }

    /// <summary>HLT: stop until an interrupt arrives. The position counts the HLT itself.</summary>
    internal void Halt() => _halted = true;

    /// <summary>The processor shut down (triple fault): nothing runs until reset.</summary>
    public bool IsShutdown => _shutdown;

    /// <summary>Clears the shutdown state; the machine calls this after resetting the CPU.</summary>
    public void ClearShutdown() => _shutdown = false;
}
