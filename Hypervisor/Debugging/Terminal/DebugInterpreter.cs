using System.Globalization;
using VmFt.Hypervisor.Determinism;

namespace VmFt.Hypervisor.Debugging.Terminal;

/// <summary>
/// The replay debugger's command language (gdb's names and short forms, plus time travel) over one
/// <see cref="ReplaySession"/>. Reads lines, writes text: the terminal, a script file and the tests
/// all drive it the same way. A command that goes wrong prints one line and the session goes on.
/// </summary>
public sealed partial class DebugInterpreter
{
    public const string Prompt = "(vmft) ";

    private delegate void Handler(string[] args);

    private readonly ReplaySession _session;
    private readonly ElfSymbols _symbols;
    private readonly TextWriter _out;
    private readonly CodeView _code;
    private readonly Dictionary<string, (Handler Run, bool Motion)> _commands = new(StringComparer.Ordinal);
    private readonly Lock _motionLock = new();
    private CancellationTokenSource? _motion;
    private string? _lastMotion;

    public DebugInterpreter(ReplaySession session, ElfSymbols symbols, TextWriter output)
    {
        _session = session;
        _symbols = symbols;
        _out = output;
        _code = new CodeView(session, symbols);
        var previous = session.SerialOutput;
        session.SerialOutput = b =>
        {
            RecordOutput(b);
            previous?.Invoke(b);
        };
        RegisterCommands();
    }

    /// <summary>Commands that failed (bad input or an engine error) so far.</summary>
    public int Errors { get; private set; }

    /// <summary>True while a motion runs: Ctrl-C then cancels it instead of meaning nothing.</summary>
    public bool InMotion
    {
        get { lock (_motionLock) return _motion is not null; }
    }

    /// <summary>Cancels the motion in progress, if any; callable from any thread (the Ctrl-C handler).</summary>
    public bool Interrupt()
    {
        lock (_motionLock)
        {
            if (_motion is null) return false;
            _motion.Cancel();
            return true;
        }
    }

    /// <summary>
    /// Reads and executes commands until <c>quit</c> or the end of <paramref name="input"/>.
    /// With <paramref name="interactive"/> a prompt is shown before each line; otherwise each line is
    /// echoed after the prompt so that a transcript reads like a session. Returns false when the
    /// user quit, true when the input ran out.
    /// </summary>
    public bool Run(TextReader input, bool interactive)
    {
        while (true)
        {
            if (interactive) { _out.Write(Prompt); _out.Flush(); }
            string? line = input.ReadLine();
            if (line is null)
            {
                if (interactive) _out.WriteLine();
                return true;
            }
            if (!interactive) _out.WriteLine(Prompt + line);
            if (!Execute(line)) return false;
            _out.Flush();
        }
    }

    /// <summary>Runs the lines of a command file; blank lines and <c>#</c> comments are skipped. False when it says quit.</summary>
    public bool RunScript(TextReader script)
    {
        while (script.ReadLine() is { } line)
        {
            string trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#')) continue;
            _out.WriteLine(Prompt + trimmed);
            if (!Execute(trimmed)) return false;
            _out.Flush();
        }
        return true;
    }

    /// <summary>Executes one command line; false when it was <c>quit</c>. An empty line repeats the last motion.</summary>
    public bool Execute(string line, bool repeatOnEmpty = true)
    {
        string text = line.Trim();
        if (text.Length == 0)
        {
            if (!repeatOnEmpty || _lastMotion is null) return true;
            text = _lastMotion;
        }
        if (text.StartsWith('#')) return true;
        string[] words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        string name = words[0];
        string[] args = words[1..];
        // x/FMT ADDR: the format is glued to the command name, as in gdb.
        if (name.StartsWith("x/", StringComparison.Ordinal))
        {
            args = [name, .. args];
            name = "x";
        }
        if (name is "quit" or "q" or "exit") return false;
        try
        {
            if (!_commands.TryGetValue(name, out var command))
                throw new CommandException($"unknown command '{name}' (try help)");
            if (command.Motion) _lastMotion = text;
            command.Run(args);
        }
        catch (CommandException e)
        {
            Errors++;
            _out.WriteLine($"error: {e.Message}");
        }
        catch (DivergenceException e)
        {
            Errors++;
            _out.WriteLine($"error: the replay diverged from the recording: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or IOException or InputException)
        {
            Errors++;
            _out.WriteLine($"error: {e.Message}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A fault in the engine should not take the user's session (and its breakpoints) with it.
            Errors++;
            _out.WriteLine($"error: internal error ({e.GetType().Name}): {e.Message}");
        }
        return true;
    }

    private void RegisterCommands()
    {
        void Add(Handler run, bool motion, params string[] names)
        {
            foreach (var n in names) _commands.Add(n, (run, motion));
        }
        Add(When, false, "when");
        Add(GotoCommand, true, "goto");
        Add(a => Repeat(a, "stepi", ct => _session.StepInstruction(ct)), true, "stepi", "si");
        Add(a => Repeat(a, "step", ct => _session.Step(overCalls: false, ct)), true, "step", "s");
        Add(a => Repeat(a, "next", ct => _session.Step(overCalls: true, ct)), true, "next", "n");
        Add(a => Once(a, "continue", ct => _session.Continue(ct)), true, "continue", "cont", "c");
        Add(a => Repeat(a, "reverse-stepi", ct => _session.ReverseStepInstruction(ct)), true, "reverse-stepi", "rsi");
        Add(a => Repeat(a, "reverse-step", ct => _session.ReverseStep(overCalls: false, ct)), true, "reverse-step", "rs");
        Add(a => Repeat(a, "reverse-next", ct => _session.ReverseStep(overCalls: true, ct)), true, "reverse-next", "rn");
        Add(a => Once(a, "reverse-continue", ct => _session.ReverseContinue(ct)), true, "reverse-continue", "rc");
        Add(Break, false, "break", "b", "br");
        Add(a => Watch(a, Guest.Processor.WatchKind.Write), false, "watch");
        Add(a => Watch(a, Guest.Processor.WatchKind.Read), false, "rwatch");
        Add(a => Watch(a, Guest.Processor.WatchKind.Access), false, "awatch");
        Add(Delete, false, "delete", "d");
        Add(Info, false, "info", "i");
        Add(_ => Registers(), false, "regs");
        Add(Examine, false, "x");
        Add(Disassemble, false, "disas", "disassemble");
        Add(Print, false, "print", "p");
        Add(ShowEvents, false, "events");
        Add(a => { NoArguments(a, "snapshots"); ShowSnapshots(); }, false, "snapshots");
        Add(a => { NoArguments(a, "snapshot"); _session.TakeSnapshot(); ShowSnapshots(); }, false, "snapshot");
        Add(ShowOutput, false, "output");
        Add(_ => Help(), false, "help", "h");
    }

    // ---- parsing ----

    private static void NoArguments(string[] args, string command)
    {
        if (args.Length != 0) throw new CommandException($"{command} takes no arguments");
    }

    private static int ParseCount(string[] args, int at, string command, int fallback = 1)
    {
        if (args.Length <= at) return fallback;
        if (args.Length > at + 1) throw new CommandException($"{command}: too many arguments");
        if (!int.TryParse(args[at].Replace("_", ""), NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
            throw new CommandException($"{command}: '{args[at]}' is not a count (a whole number of at least 1)");
        return n;
    }

    /// <summary>A position: a decimal (or 0x hex) instruction count; underscores and commas may group digits.</summary>
    private static ulong ParsePosition(string text, string command)
    {
        string t = text.Replace("_", "").Replace(",", "");
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong p)
            : ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out p);
        if (!ok) throw new CommandException($"{command}: '{text}' is not a position (an instruction count)");
        return p;
    }

    /// <summary>
    /// A linear address: terms joined by + and -, each a number (0x hex or decimal), a register
    /// (<c>$eip</c>, <c>$pc</c>, <c>$esp</c>...) or a symbol of the image; a leading <c>*</c> is allowed, as in gdb.
    /// </summary>
    private uint ParseAddress(string text, string command)
    {
        string t = text.StartsWith('*') ? text[1..] : text;
        if (t.Length == 0) throw new CommandException($"{command}: missing address");
        uint value = 0;
        int sign = 1, start = 0;
        for (int i = 0; i <= t.Length; i++)
        {
            if (i < t.Length && (t[i] != '+' && t[i] != '-' || i == start)) continue;
            string term = t[start..i];
            uint v = ParseTerm(term, command, text);
            value = sign > 0 ? value + v : value - v;
            if (i < t.Length) sign = t[i] == '+' ? 1 : -1;
            start = i + 1;
        }
        return value;
    }

    private uint ParseTerm(string term, string command, string whole)
    {
        if (term.Length == 0) throw new CommandException($"{command}: '{whole}' is not an address");
        if (term.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (uint.TryParse(term.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint hex)) return hex;
            throw new CommandException($"{command}: '{term}' is not a hexadecimal number");
        }
        if (char.IsAsciiDigit(term[0]))
        {
            if (uint.TryParse(term, NumberStyles.None, CultureInfo.InvariantCulture, out uint dec)) return dec;
            throw new CommandException($"{command}: '{term}' is not a number (hexadecimal needs 0x)");
        }
        if (term.StartsWith('$'))
            return ReadRegister(term[1..]) ?? throw new CommandException($"{command}: no register '{term}'");
        if (_symbols.TryGetAddress(term, out uint address)) return address;
        throw new CommandException(_symbols.Count == 0
            ? $"{command}: no symbol '{term}' (no symbols are loaded; use --symbols ELF|System.map)"
            : $"{command}: no symbol '{term}' in the image");
    }

    private uint? ReadRegister(string name)
    {
        var c = _session.Cpu;
        return name.ToLowerInvariant() switch
        {
            "eax" => c.Eax, "ecx" => c.Ecx, "edx" => c.Edx, "ebx" => c.Ebx,
            "esp" or "sp" => c.Esp, "ebp" or "fp" => c.Ebp, "esi" => c.Esi, "edi" => c.Edi,
            "eip" => c.Eip, "pc" => CurrentLinearPc(),
            "eflags" => c.Eflags, "cr0" => c.Cr0, "cr2" => c.Cr2, "cr3" => c.Cr3, "cr4" => c.Cr4,
            _ => null,
        };
    }

    /// <summary>The linear address of the next instruction: CS base + EIP.</summary>
    private uint CurrentLinearPc() => _session.Cpu.GetSegment(Guest.Processor.SegmentRegister.CS).Base + _session.Cpu.Eip;

    /// <summary><c>00100360 &lt;kmain+0x4&gt;</c>, or just the hex address when no symbol covers it.</summary>
    private string AddressText(uint address)
    {
        string? symbol = _symbols.Describe(address);
        return symbol is null ? $"{address:X8}" : $"{address:X8} <{symbol}>";
    }

    private void Help()
    {
        _out.WriteLine("""
            Motion (an empty line repeats the last one; Ctrl-C interrupts a long one):
              when                        the current position (instructions retired)
              goto POSITION|+N|-N|end     move to a position, ignoring breakpoints
              stepi [N]       (si)        N instructions forwards
              step [N]        (s)         N instructions of the current flow (interrupts run through)
              next [N]        (n)         like step, calls run through too
              continue        (c)         forwards to a breakpoint, watchpoint or the end
              reverse-stepi [N] (rsi)     N instructions backwards
              reverse-step [N]  (rs)      step backwards
              reverse-next [N]  (rn)      next backwards
              reverse-continue  (rc)      backwards to the previous breakpoint or watchpoint hit
            Breakpoints:
              break [ADDR|SYMBOL|@POSITION] (b)   stop before an instruction runs, or at a position
              watch ADDR [LEN]            stop after a store to [ADDR, ADDR+LEN) (LEN defaults to 4)
              rwatch ADDR [LEN]           ... after a load; awatch: after a load or a store
              delete [N]      (d)         delete breakpoint N, or all of them
              info breakpoints (info b)   list them
            State:
              info registers  (regs)      registers, flags, selectors, control registers
              info float                  the x87: R7..R0 with tags, status, control, tag word, pointers
              x/NFU ADDR                  memory: N units, U = b|h|w|g (bytes, 2, 4, 8), F = x
              disas [ADDR] [N]            N instructions from ADDR (default: 10 from the current one)
              print EXPR      (p)         an address expression: numbers, $registers, symbols, + and -
              info symbol ADDR            the symbol that covers an address
              info kaslr                  how far a relocated Linux kernel runs from its System.map
              events [N]                  the logged events around the current position
              output                      the guest's serial output up to the current position
              snapshots / snapshot        snapshot statistics / take a snapshot here
              quit            (q)         leave (so does end of input)
            Addresses are linear: 0x hex, decimal, $eip/$pc/$esp..., symbols, joined with + and -.
            """);
    }
}
