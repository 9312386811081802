using System.Globalization;
using System.Text;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Debugging.Terminal;

public sealed partial class DebugInterpreter
{
    private const int MaxDumpBytes = 64 * 1024;
    private const int MaxOutputCapture = 4 << 20;

    // Serial output with the position it was produced at, in order: the session reports each stretch once.
    private readonly List<byte> _output = [];
    private readonly List<ulong> _outputPositions = [];

    private void RecordOutput(byte b)
    {
        if (_output.Count >= MaxOutputCapture) return;
        _output.Add(b);
        _outputPositions.Add(_session.Position);
    }

    private void Info(string[] args)
    {
        if (args.Length == 0) throw new CommandException("info: what? (registers, float, breakpoints, symbol ADDR, kaslr)");
        switch (args[0])
        {
            case "registers" or "reg" or "r":
                if (args.Length > 1) throw new CommandException("info registers: takes no arguments");
                Registers();
                break;
            case "float" or "fpu":
                if (args.Length > 1) throw new CommandException("info float: takes no arguments");
                Float();
                break;
            case "breakpoints" or "break" or "b" or "watchpoints":
                if (args.Length > 1) throw new CommandException("info breakpoints: takes no arguments");
                ListBreakpoints();
                break;
            case "symbol":
                if (args.Length != 2) throw new CommandException("info symbol: expects one address");
                uint address = ParseAddress(args[1], "info symbol");
                string? symbol = _symbols.Describe(address);
                _out.WriteLine(symbol is null ? $"no symbol covers {address:X8}" : $"{address:X8} is {symbol}");
                break;
            case "kaslr":
                if (args.Length > 1) throw new CommandException("info kaslr: takes no arguments");
                Kaslr();
                break;
            default:
                throw new CommandException($"info: unknown subject '{args[0]}' (registers, float, breakpoints, symbol, kaslr)");
        }
    }

    private void Registers()
    {
        var c = _session.Cpu;
        _out.WriteLine($"eax {c.Eax:X8}  ecx {c.Ecx:X8}  edx {c.Edx:X8}  ebx {c.Ebx:X8}");
        _out.WriteLine($"esp {c.Esp:X8}  ebp {c.Ebp:X8}  esi {c.Esi:X8}  edi {c.Edi:X8}");
        _out.WriteLine($"eip {c.Eip:X8}  {(_symbols.Describe(CurrentLinearPc()) is { } s ? "<" + s + ">" : "")}");
        _out.WriteLine($"eflags {c.Eflags:X8} [{DecodeFlags(c.Eflags)}]");
        _out.WriteLine($"cs {c.GetSelector(SegmentRegister.CS):X4}  ss {c.GetSelector(SegmentRegister.SS):X4}  ds {c.GetSelector(SegmentRegister.DS):X4}  es {c.GetSelector(SegmentRegister.ES):X4}  fs {c.GetSelector(SegmentRegister.FS):X4}  gs {c.GetSelector(SegmentRegister.GS):X4}");
        _out.WriteLine($"cr0 {c.Cr0:X8}  cr2 {c.Cr2:X8}  cr3 {c.Cr3:X8}  cr4 {c.Cr4:X8}");
        string mode = !c.ProtectedMode ? "real mode" : c.PagingEnabled ? "protected mode, paging" : "protected mode";
        _out.WriteLine($"cpl {c.Cpl}  {mode}{(c.Halted ? ", halted" : "")}  position {_session.Position}{(_session.IsModified ? " (modified)" : "")}");
    }

    /// <summary>The x87 state as gdb's <c>info float</c> shows it: physical registers R7..R0 with their tags, "=>" at TOP.</summary>
    private void Float()
    {
        var c = _session.Cpu;
        ushort tags = c.FpuTagWord, sw = c.FpuStatusWord, cw = c.FpuControlWord;
        for (int r = 7; r >= 0; r--)
        {
            var v = c.GetFpuRegister(r);
            string tag = ((tags >> (2 * r)) & 3) switch { 0 => "Valid", 1 => "Zero", 2 => "Special", _ => "Empty" };
            // The value as a double, for reading only (the guest's arithmetic never goes through one).
            string value = v.IsNaN ? (v.IsSignalingNaN ? "SNaN" : "QNaN") : v.IsUnsupported ? "Unsupported" : v.IsInfinity ? (v.Negative ? "-Inf" : "+Inf")
                : (v.Negative ? "-" : "+") + Math.ScaleB(v.Significand, Math.Max(v.Exponent, 1) - 16383 - 63).ToString("G17", CultureInfo.InvariantCulture);
            _out.WriteLine($"{(r == c.FpuTop ? "=>" : "  ")}R{r}: {tag,-8}0x{v.SignExponent:x4}{v.Significand:x16} {value}");
        }
        string[] exceptions = ["IE", "DE", "ZE", "OE", "UE", "PE"];
        var set = exceptions.Where((_, i) => (sw & (1 << i)) != 0).ToList();
        if ((sw & 0x40) != 0) set.Add("SF");
        if ((sw & 0x80) != 0) set.Add("ES");
        foreach (var (bit, name) in new[] { (8, "C0"), (9, "C1"), (10, "C2"), (14, "C3") })
            if ((sw & (1 << bit)) != 0) set.Add(name);
        _out.WriteLine($"Status Word:         0x{sw:x4}   TOP: {c.FpuTop}  {string.Join(' ', set)}");
        string pc = ((cw >> 8) & 3) switch { 0 => "single (24 bits)", 2 => "double (53 bits)", 3 => "extended (64 bits)", _ => "reserved" };
        string rc = ((cw >> 10) & 3) switch { 0 => "to nearest", 1 => "down", 2 => "up", _ => "toward zero" };
        var unmasked = exceptions.Where((_, i) => (cw & (1 << i)) == 0).ToList();
        _out.WriteLine($"Control Word:        0x{cw:x4}   PC: {pc}  RC: {rc}  unmasked: {(unmasked.Count == 0 ? "none" : string.Join(' ', unmasked))}");
        _out.WriteLine($"Tag Word:            0x{tags:x4}");
        _out.WriteLine($"Instruction Pointer: 0x{c.FpuInstructionPointer.Selector:x2}:0x{c.FpuInstructionPointer.Offset:x8}");
        _out.WriteLine($"Operand Pointer:     0x{c.FpuDataPointer.Selector:x2}:0x{c.FpuDataPointer.Offset:x8}");
        _out.WriteLine($"Opcode:              0x{c.FpuOpcode:x4}");
    }

    /// <summary>The set flags by name, and the I/O privilege level (gdb's style: <c>IF ZF</c>).</summary>
    internal static string DecodeFlags(uint f)
    {
        var names = new List<string>();
        (int Bit, string Name)[] bits =
        [
            (0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (10, "DF"), (11, "OF"),
            (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"), (20, "VIP"), (21, "ID"),
        ];
        foreach (var (bit, name) in bits)
            if ((f & (1u << bit)) != 0) names.Add(name);
        uint iopl = (f >> 12) & 3;
        if (iopl != 0) names.Add($"IOPL={iopl}");
        return names.Count == 0 ? " " : " " + string.Join(' ', names) + " ";
    }

    /// <summary><c>x/NFU ADDR</c>: N units of U (b, h, w, g) in hex, with the bytes as ASCII beside them.</summary>
    private void Examine(string[] args)
    {
        string format = args.Length > 0 && args[0].StartsWith("x/", StringComparison.Ordinal) ? args[0][2..] : "";
        string[] rest = format.Length > 0 || (args.Length > 0 && args[0] == "x/") ? args[1..] : args;
        if (rest.Length != 1) throw new CommandException("x: expects x/NFU ADDR, e.g. x/16bx 0x100000 or x/4wx $esp");
        int digits = 0;
        while (digits < format.Length && char.IsAsciiDigit(format[digits])) digits++;
        int count = 0;
        if (digits > 0 && (!int.TryParse(format[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1))
            throw new CommandException($"x: '{format[..digits]}' is not a count");
        int unit = 0;
        foreach (char ch in format[digits..])
        {
            switch (ch)
            {
                case 'b': unit = 1; break;
                case 'h': unit = 2; break;
                case 'w': unit = 4; break;
                case 'g': unit = 8; break;
                case 'x': break;
                case 'i':
                    Disassemble([rest[0], (count == 0 ? 1 : count).ToString(CultureInfo.InvariantCulture)]);
                    return;
                default: throw new CommandException($"x: unknown format letter '{ch}' (units b h w g, format x or i)");
            }
        }
        if (unit == 0) unit = 1;
        if (count == 0) count = unit == 1 ? 16 : 4;
        if ((long)count * unit > MaxDumpBytes) throw new CommandException($"x: at most {MaxDumpBytes} bytes at a time");
        uint address = ParseAddress(rest[0], "x");
        var bytes = new byte[count * unit];
        if (!_session.ReadMemory(address, bytes))
            throw new CommandException($"x: cannot read {bytes.Length} bytes at {address:X8} (not mapped)");
        int perLine = Math.Max(16, unit);
        for (int line = 0; line < bytes.Length; line += perLine)
        {
            var row = bytes.AsSpan(line, Math.Min(perLine, bytes.Length - line));
            var sb = new StringBuilder();
            sb.Append($"{address + (uint)line:X8}:");
            for (int u = 0; u < row.Length; u += unit)
            {
                sb.Append(' ');
                for (int k = unit - 1; k >= 0; k--) sb.Append(row[u + k].ToString("x2", CultureInfo.InvariantCulture)); // little-endian value
            }
            int width = (perLine / unit) * (2 * unit + 1);
            int used = (row.Length / unit) * (2 * unit + 1);
            sb.Append(' ', width - used + 2);
            foreach (byte b in row) sb.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
            _out.WriteLine(sb.ToString());
        }
    }

    /// <summary><c>disas [ADDR] [N]</c>: N instructions from ADDR (the current instruction by default), the current one marked.</summary>
    private void Disassemble(string[] args)
    {
        if (args.Length > 2) throw new CommandException("disas: expects [ADDR] [N]");
        uint pc = CurrentLinearPc();
        uint start = args.Length >= 1 ? ParseAddress(args[0], "disas") : pc;
        int count = ParseCount(args, 1, "disas", fallback: 10);
        if (count > 4096) throw new CommandException("disas: at most 4096 instructions at a time");
        var lines = _code.Disassemble(start, count);
        if (lines.Count == 0) throw new CommandException($"disas: cannot read memory at {start:X8}");
        foreach (var l in lines)
        {
            string marker = l.Address == pc ? "=>" : "  ";
            string bytes = Convert.ToHexString(l.Bytes).ToLowerInvariant();
            _out.WriteLine($"{marker} {AddressText(l.Address),-32} {bytes,-16} {l.Text}");
        }
    }

    private void Print(string[] args)
    {
        if (args.Length != 1) throw new CommandException("print: expects one expression, e.g. p $esp+8 or p kmain");
        uint value = ParseAddress(args[0], "print");
        string? symbol = _symbols.Describe(value);
        _out.WriteLine($"0x{value:x8} ({value}){(symbol is null ? "" : " <" + symbol + ">")}");
    }

    /// <summary><c>events [N]</c>: N logged events around the current position, with a marker where "now" is.</summary>
    private void ShowEvents(string[] args)
    {
        int count = ParseCount(args, 0, "events", fallback: 10);
        var events = _session.Events;
        ulong now = _session.Position;
        // Events at the current position have already been applied: "now" sits after them.
        int lo = 0, hi = events.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (events[mid].Position <= now) lo = mid + 1;
            else hi = mid;
        }
        int split = lo;
        int first = Math.Max(0, split - (count + 1) / 2);
        int last = Math.Min(events.Count, first + count);
        first = Math.Max(0, last - count);
        if (events.Count == 0) _out.WriteLine("the recording holds no events");
        for (int i = first; i <= last; i++)
        {
            if (i == split) _out.WriteLine($"  ---- now: position {now} ----");
            if (i < last) _out.WriteLine(DescribeEvent(events[i]));
        }
        ShowInterrupts(now, count);
    }

    /// <summary>Interrupts are not logged (they follow from the log), so the stretch around here is replayed to list them.</summary>
    private const ulong InterruptWindow = 100_000;

    private void ShowInterrupts(ulong now, int count)
    {
        if (_session.IsModified)
        {
            _out.WriteLine("  (interrupts not shown: registers or memory were changed by hand)");
            return;
        }
        ulong from = now > InterruptWindow ? now - InterruptWindow : 0;
        var taken = _session.InterruptsBetween(from, now + InterruptWindow, limit: 100_000);
        // The ones nearest to now, in order.
        var nearest = taken.OrderBy(r => r.Position > now ? r.Position - now : now - r.Position).Take(count).OrderBy(r => r.Position).ToList();
        _out.WriteLine($"  interrupts taken within {InterruptWindow} instructions of here: {taken.Count}{(nearest.Count < taken.Count ? $", the {nearest.Count} nearest:" : "")}");
        foreach (var r in nearest)
        {
            string where = _symbols.Describe(r.ReturnLinear) is { } name ? $"{r.ReturnLinear:X8} <{name}>" : $"{r.ReturnLinear:X8}";
            _out.WriteLine($"          @{r.Position,-12} vector 0x{r.Vector:X2} interrupting {where}{(r.Position == now ? "   <- now" : "")}");
        }
    }

    private static string DescribeEvent(LogEvent e)
    {
        string what = e switch
        {
            SerialInputEvent s => $"serial input  {s.Data.Length} byte{(s.Data.Length == 1 ? "" : "s")} at input offset {s.InputOffset}: \"{Escape(s.Data, 60)}\"",
            TimeSetEvent t => $"time          {t.Nanoseconds / 1_000_000_000}.{t.Nanoseconds % 1_000_000_000:D9} s",
            CheckpointEvent c => $"checkpoint    state hash {c.StateHash:X16}",
            OutputMarkerEvent o => $"output marker {o.OutputEnd} bytes of serial output so far",
            GuestExitEvent x => $"exit          {(Enum.IsDefined((MachineExitReason)x.Reason) ? ((MachineExitReason)x.Reason).ToString() : $"reason {x.Reason}")}{(x.Status >= 0 ? $", status {x.Status}" : "")}",
            PositionBeaconEvent => "beacon",
            DiskReadEvent d => $"disk read     request {d.RequestId}: status {d.Status}, {d.Data.Length} bytes",
            DiskCompletionEvent d => $"disk done     request {d.RequestId}: status {d.Status}",
            NetReceiveEvent n => $"net receive   {n.Frame.Length} bytes",
            _ => e.Kind.ToString(),
        };
        return $"  #{e.Sequence,-6} @{e.Position,-12} {what}";
    }

    private static string Escape(ReadOnlySpan<byte> data, int max)
    {
        var sb = new StringBuilder();
        foreach (byte b in data[..Math.Min(data.Length, max)])
        {
            sb.Append(b switch
            {
                (byte)'\n' => "\\n",
                (byte)'\r' => "\\r",
                (byte)'\t' => "\\t",
                (byte)'"' => "\\\"",
                (byte)'\\' => "\\\\",
                >= 0x20 and < 0x7F => ((char)b).ToString(),
                _ => $"\\x{b:x2}",
            });
        }
        if (data.Length > max) sb.Append("...");
        return sb.ToString();
    }

    private void ShowSnapshots()
    {
        var s = _session.SnapshotStatistics;
        _out.WriteLine($"{s.Count} snapshot{(s.Count == 1 ? "" : "s")}, {Mib(s.Bytes)} of {Mib(s.BudgetBytes)} budget, one every {s.Interval} instructions");
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";

    /// <summary>The serial output the guest had produced by the current position.</summary>
    private void ShowOutput(string[] args)
    {
        NoArguments(args, "output");
        ulong now = _session.Position;
        int lo = 0, hi = _outputPositions.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_outputPositions[mid] <= now) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0)
        {
            _out.WriteLine("(no serial output by this position)");
            return;
        }
        var text = new StringBuilder(lo);
        for (int i = 0; i < lo; i++)
        {
            byte b = _output[i];
            text.Append(b is (byte)'\n' or (byte)'\t' or (>= 0x20 and < 0x7F) ? (char)b : b == '\r' ? "" : $"\\x{b:x2}");
        }
        _out.Write(text.ToString());
        if (_output[lo - 1] != '\n') _out.WriteLine();
        if (_output.Count >= MaxOutputCapture) _out.WriteLine($"(only the first {MaxOutputCapture} bytes were kept)");
    }

    /// <summary>How far a relocated Linux kernel runs from its symbols (<see cref="KernelRelocation"/>).</summary>
    private void Kaslr()
    {
        var found = KernelRelocation.Find(_session, _symbols, out string? why) ?? throw new CommandException($"info kaslr: {why}");
        _symbols.TryGetAddress(found.Handler, out uint linked);
        _out.WriteLine(found.Offset == 0
            ? $"the interrupt table's divide-error gate points to {found.Handler} at {linked:X8}: the symbols match the running kernel"
            : $"the interrupt table's divide-error gate points to {unchecked(linked + found.Offset):X8}, {found.Handler} is at {linked:X8} in the symbols: the kernel runs 0x{found.Offset:x} above them; open the recording again with --symbols-offset 0x{found.Offset:x} (or boot with nokaslr)");
    }
}
