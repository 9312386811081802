using System.Text;
using VmFt.Hypervisor.Serial;
using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary>The escape key's state machine, alone: QEMU's Ctrl-A commands, byte by byte and across reads.</summary>
public class ConsoleEscapeTests
{
    private static (string ToGuest, bool Quit, int Helps) Filter(ConsoleEscape escape, string typed)
    {
        var input = Encoding.Latin1.GetBytes(typed);
        var output = new byte[input.Length];
        int helps = 0;
        var (count, quit) = escape.Filter(input, output, () => helps++);
        return (Encoding.Latin1.GetString(output, 0, count), quit, helps);
    }

    [Fact]
    public void Ordinary_bytes_pass_including_ctrl_c_and_ctrl_d()
    {
        Assert.Equal(("ls -l\r\u0003\u0004\u001b[A", false, 0), Filter(new ConsoleEscape(), "ls -l\r\u0003\u0004\u001b[A"));
    }

    [Fact]
    public void Ctrl_a_x_quits_and_what_follows_is_not_sent()
    {
        Assert.Equal(("ab", true, 0), Filter(new ConsoleEscape(), "ab\u0001xcd"));
        Assert.Equal(("", true, 0), Filter(new ConsoleEscape(), "\u0001X"));
    }

    [Fact]
    public void Ctrl_a_ctrl_a_sends_one_ctrl_a()
    {
        Assert.Equal(("a\u0001b", false, 0), Filter(new ConsoleEscape(), "a\u0001\u0001b"));
        Assert.Equal(("\u0001\u0001", false, 0), Filter(new ConsoleEscape(), "\u0001\u0001\u0001\u0001"));
    }

    [Fact]
    public void Ctrl_a_h_and_question_mark_ask_for_help_and_send_nothing()
    {
        Assert.Equal(("ab", false, 2), Filter(new ConsoleEscape(), "a\u0001hb\u0001?"));
    }

    [Fact]
    public void Any_other_key_after_ctrl_a_is_dropped_as_in_qemu()
    {
        Assert.Equal(("az", false, 0), Filter(new ConsoleEscape(), "a\u0001qz"));
    }

    [Fact]
    public void The_escape_spans_reads()
    {
        var escape = new ConsoleEscape();
        Assert.Equal(("abc", false, 0), Filter(escape, "abc\u0001"));
        Assert.True(escape.Pending);
        Assert.Equal(("", true, 0), Filter(escape, "x"));
        Assert.False(escape.Pending);

        var again = new ConsoleEscape();
        Filter(again, "\u0001");
        Assert.Equal(("\u0001z", false, 0), Filter(again, "\u0001z"));
    }

    [Fact]
    public void Step_by_step()
    {
        var escape = new ConsoleEscape();
        Assert.Equal(EscapeAction.Forward, escape.Step((byte)'a'));
        Assert.Equal(EscapeAction.None, escape.Step(ConsoleEscape.EscapeKey));
        Assert.Equal(EscapeAction.Help, escape.Step((byte)'h'));
        Assert.Equal(EscapeAction.Forward, escape.Step((byte)'x'));   // x without Ctrl-A is a letter
        Assert.Equal(EscapeAction.None, escape.Step(ConsoleEscape.EscapeKey));
        Assert.Equal(EscapeAction.Quit, escape.Step((byte)'x'));
    }

    [Fact]
    public void Help_text_names_the_keys_with_raw_line_ends()
    {
        Assert.Contains("C-a x", ConsoleEscape.HelpText);
        Assert.Contains("C-a C-a", ConsoleEscape.HelpText);
        Assert.DoesNotContain("\n", ConsoleEscape.HelpText.Replace("\r\n", ""));
    }
}
