using VmFt.Hypervisor.Tests.Cli;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging;

/// <summary><c>vmft debug</c> as a process: a script in batch mode, and the one-line refusals.</summary>
public class DebugCommandTests(DebugRecordings recordings) : IClassFixture<DebugRecordings>
{
    [Fact]
    public void A_batch_script_runs_and_exits_0()
    {
        string recording = recordings.PathOf("hello");
        string script = Path.Combine(recordings.Directory, "hello.gdb");
        File.WriteAllText(script, "# stop in kmain, then look around\nbreak kmain\ncontinue\ninfo registers\nstepi 3\nreverse-stepi 3\nwhen\ngoto end\noutput\n");
        var (exit, stdout, stderr) = VmftProcess.Run("", "debug", recording, "--batch", "-x", script);
        Assert.True(exit == 0, $"exit {exit}: {stderr}\n{stdout}");
        Assert.Equal("", stderr);
        var session = recordings.Open("hello");
        Assert.True(DebugRecordings.SymbolsOf("hello").TryGetAddress("kmain", out uint kmain));
        session.AddBreakpoint(kmain);
        var hit = session.Continue();
        // when, after stepping 3 forwards and 3 back, is where the breakpoint stopped.
        Assert.Contains($"position {hit.Position} (the recording ends at", stdout);
        Assert.Contains("Hello from the VmFt guest!", stdout);
        Assert.DoesNotContain("error", stdout);
    }

    [Fact]
    public void Commands_on_stdin_run_without_a_terminal()
    {
        string recording = recordings.PathOf("hello");
        var (exit, stdout, stderr) = VmftProcess.Run("stepi 2\n\nwhen\nquit\nwhen\n", "debug", recording);
        Assert.True(exit == 0, stderr);
        Assert.Contains("position 4 (the recording ends at", stdout);
        // quit ends the session: the last 'when' never runs.
        Assert.Single(stdout.Split('\n'), l => l.Contains("(the recording ends at") && l.StartsWith("position 4"));
    }

    [Fact]
    public void A_failing_command_in_a_batch_script_makes_the_exit_1()
    {
        string script = Path.Combine(recordings.Directory, "bad.gdb");
        File.WriteAllText(script, "break no_such_function\nwhen\n");
        var (exit, stdout, _) = VmftProcess.Run("", "debug", recordings.PathOf("hello"), "--batch", "-x", script);
        Assert.Equal(1, exit);
        Assert.Contains("error: break: no symbol 'no_such_function'", stdout);
        Assert.Contains("position 0", stdout);
    }

    [Fact]
    public void A_corrupt_recording_is_one_line_and_exit_2()
    {
        string corrupt = Path.Combine(recordings.Directory, "corrupt.vmrec");
        byte[] bytes = File.ReadAllBytes(recordings.PathOf("hello"));
        bytes[^40] ^= 0xFF; // inside the last event block
        File.WriteAllBytes(corrupt, bytes);
        var (exit, stdout, stderr) = VmftProcess.Run("", "debug", corrupt);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Matches(@"^vmft debug: .*corrupt\.vmrec: .*byte offset \d+", line);
    }

    [Fact]
    public void A_recording_cut_short_opens_with_a_warning_up_to_what_it_holds()
    {
        string cut = Path.Combine(recordings.Directory, "cut.vmrec");
        byte[] bytes = File.ReadAllBytes(recordings.PathOf("selftest"));
        File.WriteAllBytes(cut, bytes[..(bytes.Length - 30)]);
        var (exit, stdout, stderr) = VmftProcess.Run("goto end\nwhen\n", "debug", cut);
        Assert.Equal(0, exit);
        string warning = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("truncated", warning);
        var full = recordings.Open("selftest");
        Assert.Matches(@"position (\d+) \(the recording ends at \1\)", stdout);
        Assert.DoesNotContain($"ends at {full.EndPosition})", stdout);
    }

    [Theory]
    [InlineData("--snapshot-budget", "lots")]
    [InlineData("--snapshot-interval", "0")]
    [InlineData("--symbols", "/nonexistent/file.elf")]
    [InlineData("-x", "/nonexistent/script")]
    public void Bad_flags_are_one_line_and_exit_2(string flag, string value)
    {
        var (exit, stdout, stderr) = VmftProcess.Run("", "debug", recordings.PathOf("hello"), flag, value);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_malformed_symbols_file_is_a_warning_and_the_debugger_still_runs()
    {
        string junk = Path.Combine(recordings.Directory, "junk.elf");
        File.WriteAllText(junk, "definitely not an ELF file");
        var (exit, stdout, stderr) = VmftProcess.Run("stepi\nwhen\n", "debug", recordings.PathOf("hello"), "--symbols", junk);
        Assert.Equal(0, exit);
        string warning = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("not an ELF", warning);
        Assert.Contains("position 1 (the recording ends at", stdout);
    }
}
