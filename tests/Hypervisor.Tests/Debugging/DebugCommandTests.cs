using VmFt.Hypervisor.Debugging;
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
    public void A_symbols_file_that_is_neither_elf_nor_system_map_is_one_line_and_exit_2()
    {
        string junk = Path.Combine(recordings.Directory, "junk.elf");
        File.WriteAllText(junk, "definitely not an ELF file");
        var (exit, stdout, stderr) = VmftProcess.Run("stepi\nwhen\n", "debug", recordings.PathOf("hello"), "--symbols", junk);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        string error = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"vmft debug: --symbols: {junk}: neither an ELF file (no ELF magic at byte offset 0) nor a System.map (its first line is not ADDRESS TYPE NAME)", error);
    }

    [Fact]
    public void A_stripped_elf_is_a_warning_and_the_debugger_still_runs()
    {
        // The ELF magic and a header, but no section headers: an ELF file without a symbol table.
        string stripped = Path.Combine(recordings.Directory, "stripped.elf");
        var bytes = new byte[52];
        bytes[0] = 0x7F; bytes[1] = (byte)'E'; bytes[2] = (byte)'L'; bytes[3] = (byte)'F'; bytes[4] = 1; bytes[5] = 1;
        File.WriteAllBytes(stripped, bytes);
        var (exit, stdout, stderr) = VmftProcess.Run("stepi\nwhen\n", "debug", recordings.PathOf("hello"), "--symbols", stripped);
        Assert.Equal(0, exit);
        string warning = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("no section headers", warning);
        Assert.Contains("position 1 (the recording ends at", stdout);
    }

    [Fact]
    public void A_system_map_names_the_guests_functions()
    {
        // The bundled guest's own symbols, written as nm writes a System.map.
        var elf = ElfSymbols.Parse(VmFt.Guest.Images.BundledImages.Get("hello"), out _);
        Assert.True(elf.TryGetAddress("kmain", out uint kmain));
        string map = Path.Combine(recordings.Directory, "hello.System.map");
        File.WriteAllText(map, $"00100000 T _start_of_everything\n{kmain:x8} T kmain\n");
        var (exit, stdout, stderr) = VmftProcess.Run($"break kmain\ncontinue\ninfo symbol 0x{kmain + 2:x}\n", "debug", recordings.PathOf("hello"), "--symbols", map);
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("2 symbols", stdout);
        Assert.Contains($"breakpoint at {kmain:X8}", stdout);
        Assert.Contains("kmain+0x2", stdout);
    }
}
