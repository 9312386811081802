using System.Text;
using VmFt.Guest.Memory;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Conformance;

/// <summary>
/// Runs real-mode single-step vectors on the emulated CPU: load the state, run to the HLT that
/// follows the instruction (or its exception handler), compare with what the 286 did.
/// </summary>
public sealed class SingleStepRunner
{
    public const uint RamSize = 16 * 1024 * 1024;

    /// <summary>
    /// The highest address real mode reaches with A20 on is FFFF:FFFF = 0x10FFEF; clearing this much
    /// between vectors gives each one the all-zero RAM the capture assumes without 16 MiB of work.
    /// </summary>
    private const int RealModeReach = (int)SingleStepTest.AddressLimit;

    /// <summary>
    /// A runaway guard. REP string instructions retire one position per iteration and CX is at most
    /// 65535, so a vector needs well under this; more means the CPU lost its way.
    /// </summary>
    public const ulong PositionLimit = 300_000;

    private const int IvtEntry12 = 12 * 4, IvtEntry13 = 13 * 4;

    private readonly PhysicalMemory _memory = new(RamSize);
    private readonly NullCpuBus _bus = new();

    private static readonly SegmentRegister[] SegmentOf =
        [SegmentRegister.CS, SegmentRegister.SS, SegmentRegister.DS, SegmentRegister.ES];
    private static readonly RealModeRegister[] SegmentFields =
        [RealModeRegister.Cs, RealModeRegister.Ss, RealModeRegister.Ds, RealModeRegister.Es];

    public SingleStepResult Run(SingleStepTest test)
    {
        var rules = Real286Rules.For(test);
        if (rules.Excluded) return new SingleStepResult(SingleStepOutcome.Masked, rules.ExcludedBecause!);

        Array.Clear(_memory.Ram, 0, RealModeReach);
        foreach (var (address, value) in test.InitialRam)
            _memory.Ram[address] = value;
        // The 286 reports a stack-segment overrun in real mode as interrupt 13 (80286 PRM, POP/PUSH,
        // "Real Address Mode Exceptions: Interrupt 13 for a word operand at offset 0FFFFH"); an i386+
        // raises #SS, vector 12 (SDM vol. 2, PUSH/POP, "Real-Address Mode Exceptions"). The vector's
        // IVT only holds the handler for 13, so vector 12 is pointed at the same handler.
        var aliased = new HashSet<uint>();
        if (rules.StackOverrunMayBeVector12)
            for (int i = 0; i < 4; i++)
            {
                _memory.Ram[IvtEntry12 + i] = _memory.Ram[IvtEntry13 + i];
                aliased.Add((uint)(IvtEntry12 + i));
            }
        _memory.NotifyWritten(0, RealModeReach);

        var cpu = new Cpu(_memory, _bus);
        cpu.Reset();
        cpu.A20Enabled = true; // the 286 has 24 address lines: FFFF:xxxx reaches above 1 MiB
        Load(cpu, test);

        CpuExit exit;
        try
        {
            exit = cpu.Run(cpu.Position + PositionLimit);
        }
        catch (Exception e)
        {
            return Fail(test, cpu, $"the CPU threw {e.GetType().Name}: {e.Message}");
        }
        if (exit != CpuExit.Halted)
            return Fail(test, cpu, exit == CpuExit.PositionReached
                ? $"no HLT within {PositionLimit} instructions"
                : $"stopped with {exit} instead of reaching the HLT");

        return Compare(test, cpu, rules, aliased);
    }

    private static void Load(Cpu cpu, SingleStepTest test)
    {
        for (int s = 0; s < SegmentOf.Length; s++)
            cpu.LoadRealModeSegment(SegmentOf[s], test.Initial(SegmentFields[s]));
        cpu.Eax = test.Initial(RealModeRegister.Ax);
        cpu.Ebx = test.Initial(RealModeRegister.Bx);
        cpu.Ecx = test.Initial(RealModeRegister.Cx);
        cpu.Edx = test.Initial(RealModeRegister.Dx);
        cpu.Esp = test.Initial(RealModeRegister.Sp);
        cpu.Ebp = test.Initial(RealModeRegister.Bp);
        cpu.Esi = test.Initial(RealModeRegister.Si);
        cpu.Edi = test.Initial(RealModeRegister.Di);
        cpu.Eip = test.Initial(RealModeRegister.Ip);
        cpu.Eflags = test.Initial(RealModeRegister.Flags);
    }

    /// <summary>The emulator's registers in the vectors' order, truncated to 16 bits.</summary>
    public static ushort[] Capture(Cpu cpu) =>
    [
        (ushort)cpu.Eax, (ushort)cpu.Ebx, (ushort)cpu.Ecx, (ushort)cpu.Edx,
        cpu.GetSelector(SegmentRegister.CS), cpu.GetSelector(SegmentRegister.SS),
        cpu.GetSelector(SegmentRegister.DS), cpu.GetSelector(SegmentRegister.ES),
        (ushort)cpu.Esp, (ushort)cpu.Ebp, (ushort)cpu.Esi, (ushort)cpu.Edi,
        (ushort)cpu.Eip, (ushort)cpu.Eflags,
    ];

    private SingleStepResult Compare(SingleStepTest test, Cpu cpu, ComparisonRules rules, HashSet<uint> aliased)
    {
        var actual = Capture(cpu);
        var report = new StringBuilder();
        for (int r = 0; r < SingleStepTest.RegisterCount; r++)
        {
            ushort mask = r == (int)RealModeRegister.Flags ? (ushort)~rules.IgnoredFlags : (ushort)0xFFFF;
            if (((actual[r] ^ test.FinalRegisters[r]) & mask) != 0)
                report.Append($" {(RealModeRegister)r}: expected {test.FinalRegisters[r]:X4} got {actual[r]:X4}"
                              + (mask != 0xFFFF ? $" (ignored {(ushort)~mask:X4})" : "") + ";");
        }

        var expected = new Dictionary<uint, byte>();
        foreach (var (a, v) in test.InitialRam) expected[a] = v;
        foreach (var (a, v) in test.FinalRam) expected[a] = v;
        var ignoredBits = PushedFlagsMasks(test, rules);
        foreach (var (address, value) in expected)
        {
            if (aliased.Contains(address)) continue;
            byte mask = (byte)~ignoredBits.GetValueOrDefault(address);
            byte got = _memory.Ram[address];
            if (((got ^ value) & mask) != 0)
                report.Append($" [{address:X6}]: expected {value:X2} got {got:X2};");
        }
        return report.Length == 0 ? SingleStepResult.Pass : Fail(test, cpu, report.ToString().Trim(), actual);
    }

    /// <summary>
    /// Bits of RAM that hold a FLAGS image the instruction pushed (PUSHF, INT, INTO, or the frame of
    /// an exception): bits 12-15 are ignored for the reason given at <see cref="Real286Rules.FlagsHighNibble"/>,
    /// and an exception frame also carries the instruction's undefined flags, which the 286 has
    /// already changed when DIV/IDIV raise #DE.
    /// </summary>
    private static Dictionary<uint, byte> PushedFlagsMasks(SingleStepTest test, ComparisonRules rules)
    {
        var masks = new Dictionary<uint, byte>();
        var insn = DecodedOpcode.Of(test.Bytes);
        bool pushesFlags = insn.Opcode is 0x9C or 0xCC or 0xCD || test.ExceptionVector >= 0;
        if (!pushesFlags) return masks;
        uint ssBase = (uint)test.Initial(RealModeRegister.Ss) << 4;
        ushort sp = test.Initial(RealModeRegister.Sp);
        // Only #DE (DIV, IDIV, AAM by zero) leaves the instruction's undefined flags in the frame;
        // every other fault restarts the instruction with the flags it started with.
        ushort ignored = test.ExceptionVector == 0 ? rules.IgnoredFlags : Real286Rules.FlagsHighNibble;
        masks[ssBase + (ushort)(sp - 2)] = (byte)ignored;
        masks[ssBase + (ushort)(sp - 1)] = (byte)(ignored >> 8);
        return masks;
    }

    private static SingleStepResult Fail(SingleStepTest test, Cpu cpu, string why, ushort[]? actual = null)
    {
        actual ??= Capture(cpu);
        var sb = new StringBuilder();
        sb.Append($"line {test.Line}: {test.Name} [{Convert.ToHexString(test.Bytes)}]");
        if (test.ExceptionVector >= 0) sb.Append($" (286 took vector {test.ExceptionVector})");
        sb.AppendLine();
        sb.AppendLine($"    {why}");
        sb.Append("    initial ").AppendLine(Format(test.InitialRegisters));
        sb.Append("    expected").AppendLine(Format(test.FinalRegisters));
        sb.Append("    actual  ").Append(Format(actual));
        return new SingleStepResult(SingleStepOutcome.Failed, sb.ToString());
    }

    private static string Format(ushort[] regs)
    {
        var sb = new StringBuilder();
        for (int r = 0; r < regs.Length; r++)
            sb.Append(' ').Append(((RealModeRegister)r).ToString().ToLowerInvariant()).Append('=').Append(regs[r].ToString("X4"));
        return sb.ToString();
    }
}
