using System.Globalization;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Debugging;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging;

/// <summary>
/// The debugger's commands on real recordings, each outcome checked against a second session driven
/// directly (or stepped one instruction at a time), never against the interpreter's own output alone.
/// </summary>
public class DebugInterpreterTests(DebugRecordings recordings) : IClassFixture<DebugRecordings>
{
    private readonly record struct Registers(uint Eax, uint Ecx, uint Edx, uint Ebx, uint Esp, uint Ebp, uint Esi, uint Edi,
        uint Eip, uint Eflags, ushort Cs, ushort Ss, ushort Ds, uint Cr0, uint Cr3, ulong Position);

    private static Registers Capture(ReplaySession s)
    {
        var c = s.Cpu;
        return new Registers(c.Eax, c.Ecx, c.Edx, c.Ebx, c.Esp, c.Ebp, c.Esi, c.Edi, c.Eip, c.Eflags,
            c.GetSelector(SegmentRegister.CS), c.GetSelector(SegmentRegister.SS), c.GetSelector(SegmentRegister.DS), c.Cr0, c.Cr3, s.Position);
    }

    private ScriptedDebugger Debugger(string guest) => new(recordings.Open(guest), DebugRecordings.SymbolsOf(guest));

    private static uint ReadU32(ReplaySession s, uint address)
    {
        Span<byte> b = stackalloc byte[4];
        Assert.True(s.ReadMemory(address, b));
        return BitConverter.ToUInt32(b);
    }

    [Fact]
    public void Break_on_a_symbol_then_continue_stops_where_the_instruction_first_runs()
    {
        var d = Debugger("hello");
        Assert.True(d.Symbols.TryGetAddress("kmain", out uint kmain));
        string set = d.Do("break kmain");
        Assert.Contains("breakpoint 1", set);
        string stop = d.Do("continue");
        Assert.Equal(kmain, d.Session.Cpu.Eip);
        Assert.Contains("kmain", stop);
        Assert.Contains($"=> {kmain:X8}", stop);

        // Independently: the first position at which EIP is kmain, found one instruction at a time.
        var plain = recordings.Open("hello");
        while (plain.Cpu.Eip != kmain && plain.Position < plain.EndPosition) plain.StepInstruction();
        Assert.Equal(kmain, plain.Cpu.Eip);
        Assert.Equal(plain.Position, d.Session.Position);
    }

    [Fact]
    public void Info_float_shows_the_x87_registers_of_the_session()
    {
        var d = Debugger("floats");
        d.Do("goto 3000000");
        string text = d.Do("info float");
        var c = d.Session.Cpu;
        Assert.Contains($"=>R{c.FpuTop}: ", text);
        for (int r = 0; r < 8; r++)
            Assert.Contains($"R{r}: ", text);
        var top = c.GetFpuRegister(c.FpuTop);
        Assert.Contains($"0x{top.SignExponent:x4}{top.Significand:x16}", text);
        Assert.Contains($"Status Word:         0x{c.FpuStatusWord:x4}", text);
        Assert.Contains($"Control Word:        0x{c.FpuControlWord:x4}", text);
        Assert.Contains($"Tag Word:            0x{c.FpuTagWord:x4}", text);
        Assert.Contains($"Opcode:              0x{c.FpuOpcode:x4}", text);
        Assert.Contains("info float: takes no arguments", d.Do("info float now"));
    }

    [Fact]
    public void Stepi_n_then_reverse_stepi_n_comes_back_to_the_same_registers()
    {
        var d = Debugger("selftest");
        d.Do("goto 1000");
        var before = Capture(d.Session);
        d.Do("stepi 250");
        var after = Capture(d.Session);
        Assert.Equal(before.Position + 250, after.Position);

        var other = recordings.Open("selftest");
        other.Goto(before.Position + 250);
        Assert.Equal(Capture(other), after);

        d.Do("reverse-stepi 250");
        Assert.Equal(before, Capture(d.Session));
    }

    [Fact]
    public void A_series_of_steps_ends_early_on_a_breakpoint_both_ways()
    {
        var d = Debugger("hello");
        Assert.True(d.Symbols.TryGetAddress("kmain", out uint kmain));
        d.Do("break kmain");
        d.Do("continue");
        ulong hit = d.Session.Position;
        d.Do("goto 0");
        string forwards = d.Do($"stepi {hit + 50}");
        Assert.Equal(hit, d.Session.Position);
        Assert.Contains("breakpoint", forwards);
        d.Do($"goto {hit + 20}");
        d.Do($"reverse-stepi {hit + 20}");
        Assert.Equal(hit, d.Session.Position);
        Assert.Equal(kmain, d.Session.CurrentLinearEip);
    }

    [Fact]
    public void The_short_forms_and_an_empty_line_repeat_the_last_motion()
    {
        var d = Debugger("selftest");
        d.Do("si 5");
        Assert.Equal(5ul, d.Session.Position);
        d.Do("");
        Assert.Equal(10ul, d.Session.Position);
        d.Do("rsi 3");
        Assert.Equal(7ul, d.Session.Position);
        d.Do("info registers"); // not a motion: the empty line still repeats rsi 3
        d.Do("");
        Assert.Equal(4ul, d.Session.Position);
    }

    [Fact]
    public void Watch_on_a_global_stops_right_after_a_store_that_changed_it_and_reverse_continue_finds_the_previous_one()
    {
        var d = Debugger("selftest");
        Assert.True(d.Symbols.TryGetAddress("ticks", out uint ticks));
        Assert.Contains("watchpoint 1", d.Do("watch ticks 4"));

        d.Do("continue");
        ulong first = d.Session.Position;
        d.Do("continue");
        ulong second = d.Session.Position;
        Assert.True(first > 0 && second > first, $"hits at {first} and {second}");

        // The independent check: ticks changed exactly across the instruction before each hit.
        var other = recordings.Open("selftest");
        foreach (ulong hit in new[] { first, second })
        {
            other.Goto(hit - 1);
            uint old = ReadU32(other, ticks);
            other.Goto(hit);
            Assert.NotEqual(old, ReadU32(other, ticks));
        }
        // ... and not anywhere between the two hits.
        other.Goto(first);
        uint atFirst = ReadU32(other, ticks);
        other.Goto(second - 1);
        Assert.Equal(atFirst, ReadU32(other, ticks));

        string back = d.Do("reverse-continue");
        Assert.Equal(first, d.Session.Position);
        Assert.Contains("watchpoint", back);
        Assert.Contains(first.ToString(CultureInfo.InvariantCulture), d.Do("when"));
    }

    [Fact]
    public void Step_enters_a_call_next_runs_through_it_and_reverse_next_comes_back()
    {
        var d = Debugger("hello");
        Assert.True(d.Symbols.TryGetAddress("kmain", out uint kmain));
        Assert.True(d.Symbols.TryGetAddress("serial_init", out uint serialInit));
        // kmain's first call is to serial_init: find it one instruction at a time on a plain session.
        var plain = recordings.Open("hello");
        plain.AddBreakpoint(kmain);
        plain.Continue();
        plain.RemoveBreakpoint(kmain);
        ulong callAt;
        do
        {
            callAt = plain.Position;
            plain.StepInstruction();
        } while (plain.Cpu.Eip != serialInit);
        uint returnAddress = ReadU32(plain, plain.Cpu.Esp);

        d.Do($"goto {callAt}");
        d.Do("step");
        Assert.Equal(serialInit, d.Session.Cpu.Eip);
        d.Do($"goto {callAt}");
        string next = d.Do("next");
        Assert.Equal(returnAddress, d.Session.Cpu.Eip);
        Assert.True(d.Session.Position > callAt + 1);
        Assert.Contains($"=> {returnAddress:X8} <kmain+0x", next);
        d.Do("reverse-next");
        Assert.Equal(callAt, d.Session.Position);
    }

    [Fact]
    public void Goto_then_when_tells_the_position()
    {
        var d = Debugger("selftest");
        d.Do("goto 123456");
        Assert.Equal(123456ul, d.Session.Position);
        Assert.Contains("position 123456", d.Do("when"));
        d.Do("goto -456");
        Assert.Contains("position 123000", d.Do("when"));
        d.Do("goto end");
        Assert.Equal(d.Session.EndPosition, d.Session.Position);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("stepi many")]
    [InlineData("stepi 0")]
    [InlineData("goto twelve")]
    [InlineData("break no_such_symbol")]
    [InlineData("break 0xZZ")]
    [InlineData("watch")]
    [InlineData("x/4qx 0x100000")]
    [InlineData("x/4wx")]
    [InlineData("delete 99")]
    [InlineData("info nothing")]
    [InlineData("events -1")]
    public void A_bad_command_prints_one_line_and_the_session_goes_on(string command)
    {
        var d = Debugger("hello");
        d.Do("stepi 3");
        var before = Capture(d.Session);
        string output = d.Do(command);
        string line = Assert.Single(ScriptedDebugger.Lines(output));
        Assert.StartsWith("error:", line);
        Assert.Equal(before, Capture(d.Session));
        Assert.Equal(1, d.Interpreter.Errors);
        d.Do("stepi");
        Assert.Equal(before.Position + 1, d.Session.Position);
    }

    [Fact]
    public void Position_breakpoints_stop_there_and_delete_removes_them()
    {
        var d = Debugger("selftest");
        d.Do("break @5000");
        d.Do("break @9000");
        Assert.Contains("position 5000", d.Do("info breakpoints"));
        d.Do("continue");
        Assert.Equal(5000ul, d.Session.Position);
        d.Do("delete 2");
        Assert.DoesNotContain(9000ul, d.Session.PositionBreakpoints);
        string end = d.Do("continue");
        Assert.Equal(d.Session.EndPosition, d.Session.Position);
        Assert.Contains("end of the recording", end);
    }

    [Fact]
    public void Memory_dump_shows_the_guests_data_in_hex_and_ascii()
    {
        var d = Debugger("hello");
        d.Do("goto 10");
        string dump = d.Do("x/32bx greeting.0");
        Assert.Contains("Hello from the V", dump);
        Assert.True(d.Symbols.TryGetAddress("greeting.0", out uint greeting));
        var lines = ScriptedDebugger.Lines(dump);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"{greeting:X8}: 48 65 6c 6c 6f", lines[0]); // "Hello"
        string words = d.Do("x/2wx greeting.0");
        Assert.StartsWith($"{greeting:X8}: 6c6c6548 7266206f", ScriptedDebugger.Lines(words)[0]);
    }

    [Fact]
    public void Registers_disassembly_and_output_describe_the_current_state()
    {
        var d = Debugger("hello");
        d.Do("break serial_init");
        Assert.Contains("breakpoint 1", d.Do("continue"));
        var c = d.Session.Cpu;
        string regs = d.Do("info registers");
        Assert.Contains($"eax {c.Eax:X8}", regs);
        Assert.Contains($"esp {c.Esp:X8}", regs);
        Assert.Contains($"eip {c.Eip:X8}  <serial_init>", regs);
        Assert.Contains($"cs {c.GetSelector(SegmentRegister.CS):X4}", regs);
        Assert.Contains($"position {d.Session.Position}", regs);
        Assert.Equal((c.Eflags & 0x200) != 0, regs.Contains(" IF "));

        string disas = d.Do("disas");
        var current = Assert.Single(ScriptedDebugger.Lines(disas), l => l.StartsWith("=>"));
        Assert.Contains($"{c.Eip:X8} <serial_init>", current);

        d.Do("goto end");
        Assert.Contains("Hello from the VmFt guest!", d.Do("output"));
        d.Do("goto 5");
        Assert.DoesNotContain("Hello", d.Do("output"));
    }

    [Fact]
    public void Events_around_the_end_include_the_exit()
    {
        var d = Debugger("hello");
        d.Do("goto end");
        string events = d.Do("events 5");
        var last = d.Session.Events[^1];
        Assert.Contains("exit", events);
        Assert.Contains($"#{last.Sequence}", events);
        Assert.Contains($"now: position {d.Session.Position}", events);
    }

    [Fact]
    public void Events_show_serial_input_and_output_grows_with_the_position()
    {
        const string input = "c1 1 PUT k v\nc1 2 GET k\nSHUTDOWN\n";
        var d = new ScriptedDebugger(recordings.Open("kvstore", input), DebugRecordings.SymbolsOf("kvstore"));
        var inputs = d.Session.Events.OfType<SerialInputEvent>().ToList();
        Assert.NotEmpty(inputs);
        // The UART takes the bytes in pieces: look at the piece that ends the first request.
        var first = inputs.First(e => e.Data.Contains((byte)'\n'));
        d.Do($"goto {first.Position}");
        string events = d.Do("events 4");
        Assert.Contains($"#{first.Sequence}", events);
        Assert.Contains("serial input", events);
        string expected = System.Text.Encoding.ASCII.GetString(first.Data).Replace("\n", "\\n");
        Assert.Contains($"\"{expected}\"", events); // newlines escaped
        // The input event is applied at its position, so "now" comes after it.
        Assert.True(events.IndexOf($"#{first.Sequence}", StringComparison.Ordinal) < events.IndexOf("now:", StringComparison.Ordinal));

        Assert.DoesNotContain("c1 2 VALUE v", d.Do("output"));
        d.Do("goto end");
        Assert.Contains("c1 2 VALUE v", d.Do("output"));
    }

    [Fact]
    public void Snapshot_adds_to_the_statistics()
    {
        var d = Debugger("selftest");
        d.Do("goto 300000");
        int before = d.Session.SnapshotStatistics.Count;
        d.Do("snapshot");
        Assert.True(d.Session.SnapshotStatistics.Count > before, $"{before} -> {d.Session.SnapshotStatistics.Count}");
        Assert.Contains($"{d.Session.SnapshotStatistics.Count} snapshot", d.Do("snapshots"));
    }

    [Fact]
    public void Interrupting_a_long_continue_stops_it_and_the_session_goes_on()
    {
        var d = Debugger("cpubench");
        string? stop = null;
        var motion = new Thread(() => stop = d.Do("continue"));
        motion.Start();
        while (!d.Interpreter.InMotion && motion.IsAlive) Thread.Yield();
        Thread.Sleep(20);
        d.Interpreter.Interrupt();
        Assert.True(motion.Join(TimeSpan.FromSeconds(30)));
        Assert.Contains("interrupted", stop);
        Assert.True(d.Session.Position < d.Session.EndPosition);
        ulong at = d.Session.Position;
        d.Do("stepi");
        Assert.Equal(at + 1, d.Session.Position);
    }
}
