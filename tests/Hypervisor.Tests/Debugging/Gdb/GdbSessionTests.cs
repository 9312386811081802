using System.Text.RegularExpressions;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Debugging;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>
/// The real gdb (Debian's, in batch mode) against the stub serving a recording: breakpoints,
/// stepping both ways, watchpoints, the ends of the history. What gdb prints is checked against a
/// separate <see cref="ReplaySession"/> moved to the position the stub reports.
/// </summary>
public sealed class GdbSessionTests(GdbRecordings recordings) : IClassFixture<GdbRecordings>
{
    private static string M(string name) => GdbTranscript.Mark(name);

    private static void AssertRegistersMatch(ReplaySession session, Dictionary<string, uint> shown)
    {
        var cpu = session.Cpu;
        var expected = new Dictionary<string, uint>
        {
            ["eax"] = cpu.Eax, ["ecx"] = cpu.Ecx, ["edx"] = cpu.Edx, ["ebx"] = cpu.Ebx,
            ["esp"] = cpu.Esp, ["ebp"] = cpu.Ebp, ["esi"] = cpu.Esi, ["edi"] = cpu.Edi,
            ["eip"] = cpu.Eip, ["eflags"] = cpu.Eflags,
            ["cs"] = cpu.GetSelector(SegmentRegister.CS), ["ss"] = cpu.GetSelector(SegmentRegister.SS),
            ["ds"] = cpu.GetSelector(SegmentRegister.DS), ["es"] = cpu.GetSelector(SegmentRegister.ES),
        };
        foreach (var (name, value) in expected)
            Assert.True(shown.TryGetValue(name, out uint got) && got == value, $"{name}: gdb shows {(shown.TryGetValue(name, out uint g) ? g.ToString("x8") : "nothing")}, the session has {value:x8}");
    }

    [Fact]
    public void Break_continue_stepi_and_reverse_stepi_show_the_sessions_registers()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        var t = new GdbTranscript(rig.Gdb(
            "break kmain",
            M("A"), "continue", "monitor when", "info registers",
            M("B"), "stepi", "monitor when", "info registers",
            M("C"), "reverse-stepi", "monitor when", "info registers", M("end")));

        var breakAt = Regex.Match(t.Text, @"Breakpoint 1 at 0x([0-9a-f]+)");
        Assert.True(breakAt.Success, t.Text);
        uint kmain = GdbTranscript.Hex(breakAt.Groups[1].Value);
        Assert.Contains($"Breakpoint 1, 0x{kmain:x8} in kmain", t.Section("A"));

        ulong a = t.Position("A"), b = t.Position("B"), c = t.Position("C");
        Assert.Equal(a + 1, b);
        Assert.Equal(a, c);

        var session = ReplaySession.Open(rig.Recording);
        session.Goto(a);
        Assert.Equal(kmain, session.Cpu.Eip);
        AssertRegistersMatch(session, t.Registers("A"));
        AssertRegistersMatch(session, t.Registers("C"));
        session.Goto(b);
        AssertRegistersMatch(session, t.Registers("B"));
        Assert.NotEqual(t.Registers("A")["eip"], t.Registers("B")["eip"]);
    }

    [Fact]
    public void Reverse_continue_returns_to_earlier_breakpoint_hits_and_both_ends_say_no_more_history()
    {
        using var rig = new GdbTestRig(recordings, "selftest");
        var t = new GdbTranscript(rig.Gdb(
            "break check",
            M("first"), "continue", "monitor when",
            M("second"), "continue", "monitor when",
            M("third"), "continue", "monitor when",
            M("back2"), "reverse-continue", "monitor when",
            M("back1"), "reverse-continue", "monitor when",
            "delete",
            M("toStart"), "reverse-continue", "monitor when",
            M("toEnd"), "continue", "monitor when", M("end")));

        ulong p1 = t.Position("first"), p2 = t.Position("second"), p3 = t.Position("third");
        Assert.True(p1 < p2 && p2 < p3, t.Text);
        Assert.Equal(p2, t.Position("back2"));
        Assert.Equal(p1, t.Position("back1"));
        Assert.Contains("Breakpoint 1, ", t.Section("back1"));

        Assert.Contains("No more reverse-execution history.", t.Section("toStart"));
        Assert.Equal(0UL, t.Position("toStart"));
        Assert.Contains("No more reverse-execution history.", t.Section("toEnd"));

        var session = ReplaySession.Open(rig.Recording);
        Assert.Equal(session.EndPosition, t.Position("toEnd"));
        session.Goto(p1);
        uint check = session.Cpu.Eip;
        session.Goto(p2);
        Assert.Equal(check, session.Cpu.Eip);
        session.Goto(p3);
        Assert.Equal(check, session.Cpu.Eip);
    }

    [Fact]
    public void A_watchpoint_on_a_global_stops_where_it_is_written_forwards_and_backwards()
    {
        using var rig = new GdbTestRig(recordings, "selftest");
        var t = new GdbTranscript(rig.Gdb(
            "watch *(int*)&thre_irqs",
            M("w1"), "continue", "monitor when", "x/wx &thre_irqs",
            M("w2"), "continue", "monitor when", "x/wx &thre_irqs",
            M("back"), "reverse-continue", "monitor when", "x/wx &thre_irqs", "info registers", M("end")));

        Assert.Matches(@"Hardware watchpoint 1: \*\(int\*\)&thre_irqs\s+Old value = 0\s+New value = 1", t.Section("w1"));
        Assert.Matches(@"Old value = 1\s+New value = 2", t.Section("w2"));
        Assert.Matches(@"Old value = 2\s+New value = 1", t.Section("back"));
        ulong w1 = t.Position("w1"), w2 = t.Position("w2"), back = t.Position("back");
        Assert.True(w1 < w2, t.Text);
        Assert.True(back < w2 && back >= w1 - 1, t.Text);

        var session = ReplaySession.Open(rig.Recording);
        var symbol = Regex.Match(t.Section("w1"), @"0x([0-9a-f]+) <thre_irqs>:\s+0x([0-9a-f]+)");
        Assert.True(symbol.Success, t.Text);
        uint address = GdbTranscript.Hex(symbol.Groups[1].Value);
        uint Value(ulong position)
        {
            session.Goto(position);
            var bytes = new byte[4];
            Assert.True(session.ReadMemory(address, bytes));
            return BitConverter.ToUInt32(bytes);
        }
        Assert.Equal(1u, Value(w1));
        Assert.Equal(0u, Value(w1 - 1)); // the instruction just before the stop wrote it
        Assert.Equal(2u, Value(w2));
        Assert.Equal(1u, GdbTranscript.Hex(symbol.Groups[2].Value));
        var shownBack = Regex.Match(t.Section("back"), @"<thre_irqs>:\s+0x([0-9a-f]+)");
        Assert.Equal(Value(back), GdbTranscript.Hex(shownBack.Groups[1].Value));
        session.Goto(back);
        AssertRegistersMatch(session, t.Registers("back"));
    }
}
