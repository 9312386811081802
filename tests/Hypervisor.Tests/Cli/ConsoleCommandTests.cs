using System.Diagnostics;
using System.IO.Pipes;
using System.Net.Sockets;
using System.Text;
using VmFt.Hypervisor.Serial;
using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary>
/// The console a person uses: raw mode on a real pseudo-terminal (set and given back), the escape
/// key through <c>vmft run</c> and <c>vmft console</c> on a terminal, and the unchanged path when
/// standard input is a pipe (what scripts and the other tests use).
/// </summary>
public class ConsoleCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static string Vmft => $"dotnet {Path.Combine(AppContext.BaseDirectory, "vmft.dll")}";

    [Fact]
    public void Raw_mode_on_a_pseudo_terminal_is_set_and_given_back()
    {
        var (master, slave) = PseudoTerminal.Open();
        try
        {
            var before = Termios.Get(slave);
            Assert.NotEqual(0u, before.LocalFlags & TermiosState.Icanon);   // a fresh pty is cooked
            using (var raw = RawTerminal.EnterIfTerminal(slave))
            {
                Assert.NotNull(raw);
                var now = Termios.Get(slave);
                Assert.Equal(0u, now.LocalFlags & (TermiosState.Icanon | TermiosState.Echo | TermiosState.Isig | TermiosState.Iexten));
                Assert.Equal(0u, now.InputFlags & (TermiosState.Icrnl | TermiosState.Ixon));
                Assert.Equal(before.OutputFlags, now.OutputFlags);   // output processing stays, as QEMU's
                raw!.Restore();
                Assert.Equal(before.Flags, Termios.Get(slave).Flags);
                // Set raw again behind its back: a second restore does nothing (it runs once).
                Termios.Set(slave, Termios.MakeRaw(before));
                raw.Restore();
                Assert.Equal(0u, Termios.Get(slave).LocalFlags & TermiosState.Icanon);
                Termios.Set(slave, before);
            }
            Assert.Equal(before.Flags, Termios.Get(slave).Flags);
        }
        finally
        {
            PseudoTerminal.Close(slave);
            PseudoTerminal.Close(master);
        }
    }

    [Fact]
    public void A_pipe_is_no_terminal_and_is_left_alone()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        int fd = (int)pipe.ClientSafePipeHandle.DangerousGetHandle();
        Assert.False(RawTerminal.IsTerminal(fd));
        Assert.Null(RawTerminal.EnterIfTerminal(fd));
    }

    [Fact]
    public void Without_the_escape_every_byte_reaches_the_guest()
    {
        var typed = Encoding.Latin1.GetBytes("a\u0001x\u0001\u0001b\u0003");
        using var console = new TerminalConsole(new MemoryStream(typed), Stream.Null, escape: false);
        var got = new MemoryStream();
        using var ended = new ManualResetEventSlim();
        console.Start(data => got.Write(data), ended.Set);
        Assert.True(ended.Wait(Timeout));
        Assert.Equal(typed, got.ToArray());
        Assert.False(console.QuitRequested.IsCancellationRequested);
    }

    [Fact]
    public async Task The_console_client_carries_bytes_both_ways_until_ctrl_a_x()
    {
        using var peer = new LoopbackPeer();
        using var keyboard = new AnonymousPipeServerStream(PipeDirection.Out);
        using var keys = new AnonymousPipeClientStream(PipeDirection.In, keyboard.ClientSafePipeHandle);
        var screen = new LockedStream();
        using var console = new TerminalConsole(keys, screen, escape: true);
        using var socket = RelayConsoleClient.Connect(peer.EndPoint, Timeout);
        peer.Accept(Timeout);
        var session = Task.Run(() => RelayConsoleClient.Run(socket, console));

        keyboard.Write(Encoding.Latin1.GetBytes("ls\r\u0003\u0001\u0001"));
        keyboard.Flush();
        peer.WaitForReceived(Encoding.Latin1.GetBytes("ls\r\u0003\u0001"), Timeout);
        peer.Send("bin  etc\r\n~ # ");
        screen.WaitFor("bin  etc\r\n~ # ", Timeout);
        keyboard.Write(Encoding.Latin1.GetBytes("\u0001h"));
        keyboard.Flush();
        screen.WaitFor("C-a x    quit", Timeout);

        keyboard.Write(Encoding.Latin1.GetBytes("\u0001xnot sent"));
        keyboard.Flush();
        Assert.Equal(ConsoleSessionEnd.Quit, await session.WaitAsync(Timeout));
        Assert.Equal(Encoding.Latin1.GetBytes("ls\r\u0003\u0001"), peer.Received);
    }

    [Fact]
    public void A_refused_connection_is_one_line_and_exit_2()
    {
        int port = LoopbackPeer.UnusedPort();
        var (exit, stdout, stderr) = VmftProcess.Run("", "console", $"127.0.0.1:{port}");
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"vmft console: cannot connect to 127.0.0.1:{port}: ", line);
        Assert.Contains("refused", line);
    }

    [Fact]
    public void A_bad_address_is_one_line_and_exit_2()
    {
        var (exit, _, stderr) = VmftProcess.Run("", "console", "127.0.0.1");
        Assert.Equal(2, exit);
        Assert.Equal("vmft console: address: '127.0.0.1' is not HOST:PORT", stderr.Trim());
    }

    [Fact]
    public async Task From_a_pipe_the_bytes_pass_unchanged_and_the_end_of_input_ends_the_session()
    {
        using var peer = new LoopbackPeer();
        var client = Task.Run(() => VmftProcess.Run("echo hi\n\u0001x\u0001\u0001 still data\n", "console", peer.EndPoint.ToString()));
        peer.Accept(Timeout);
        peer.Send("~ # ");
        peer.WaitForInputEnd(Timeout);      // the end of the pipe half-closes the connection
        Assert.Equal(Encoding.Latin1.GetBytes("echo hi\n\u0001x\u0001\u0001 still data\n"), peer.Received);
        peer.Send("bye\r\n");
        peer.CloseConnection();
        var (exit, stdout, stderr) = await client.WaitAsync(Timeout);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.Equal("~ # bye\r\n", stdout);
        Assert.Equal("", stderr);
    }

    [Fact]
    public async Task When_the_relay_ends_the_console_says_so_in_one_line_and_exits_1()
    {
        using var peer = new LoopbackPeer();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "vmft.dll"), "console", peer.EndPoint.ToString() }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            peer.Accept(Timeout);
            peer.Send("last words\r\n");
            peer.CloseConnection();      // the input stays open: the user is still there
            Assert.True(process.WaitForExit(Timeout));
            Assert.Equal(VmFt.Hypervisor.Cli.ConsoleCommand.ConnectionClosedExit, process.ExitCode);
            Assert.Equal("last words\r\n", await stdout);
            Assert.Equal($"vmft console: the connection to {peer.EndPoint} closed (the relay or the guest's console ended)", (await stderr).Trim());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void On_a_terminal_vmft_console_is_raw_the_escape_quits_and_the_terminal_comes_back()
    {
        Assert.True(OnTerminal.Available, "util-linux's script is needed to give vmft a terminal");
        using var peer = new LoopbackPeer();
        using var terminal = new OnTerminal($"{Vmft} console {peer.EndPoint}; echo EXIT=$?; stty -a");
        peer.Accept(Timeout);
        terminal.WaitFor("Ctrl-A x quits");
        // Raw: Ctrl-C and Ctrl-D are bytes for the guest, Enter is CR, nothing is echoed locally.
        terminal.Type("secret\r\u0003\u0004\u0001\u0001");
        peer.WaitForReceived(Encoding.Latin1.GetBytes("secret\r\u0003\u0004\u0001"), Timeout);
        peer.Send("from the guest\r\n");
        terminal.WaitFor("from the guest");
        terminal.Type("\u0001x");
        terminal.WaitFor("EXIT=0");
        Assert.Equal(0, terminal.WaitForExit());
        string screen = terminal.Screen;
        Assert.DoesNotContain("secret", screen);
        Assert.Contains("vmft console: quit (Ctrl-A x)", screen);
        // stty after vmft ended: the line discipline is back (no "-icanon", "-echo", "-isig").
        string settings = screen[screen.IndexOf("EXIT=0", StringComparison.Ordinal)..];
        foreach (var flag in new[] { " icanon", " echo ", " isig", " icrnl", " opost" })
            Assert.Contains(flag, settings.Replace("\r\n", " ").Replace('\n', ' ') + " ");
    }

    [Fact]
    public void Sigterm_gives_the_terminal_back()
    {
        Assert.True(OnTerminal.Available, "util-linux's script is needed to give vmft a terminal");
        using var peer = new LoopbackPeer();
        string pidFile = Path.Combine(Path.GetTempPath(), $"vmft-console-{Guid.NewGuid():N}.pid");
        try
        {
            // vmft runs in the foreground of the terminal (exec keeps the pid the shell wrote down).
            using var terminal = new OnTerminal($"sh -c 'echo $$ > {pidFile}; exec {Vmft} console {peer.EndPoint}'; echo EXIT=$?; stty -a");
            peer.Accept(Timeout);
            terminal.WaitFor("Ctrl-A x quits");
            using (var kill = Process.Start("kill", ["-TERM", File.ReadAllText(pidFile).Trim()])) kill.WaitForExit();
            terminal.WaitFor("EXIT=");
            terminal.WaitForExit();
            string screen = terminal.Screen;
            string settings = screen[screen.IndexOf("EXIT=", StringComparison.Ordinal)..].Replace("\r\n", " ") + " ";
            Assert.DoesNotContain("EXIT=0", screen);
            foreach (var flag in new[] { " icanon", " echo ", " isig", " icrnl" })
                Assert.Contains(flag, settings);
        }
        finally
        {
            File.Delete(pidFile);
        }
    }

    [Fact]
    public void With_line_the_terminal_keeps_its_line_mode()
    {
        Assert.True(OnTerminal.Available, "util-linux's script is needed to give vmft a terminal");
        using var peer = new LoopbackPeer();
        using var terminal = new OnTerminal($"{Vmft} console {peer.EndPoint} --line; echo EXIT=$?");
        peer.Accept(Timeout);
        // The terminal echoes and edits the line itself (the backspace removes the x), and sends it
        // at Enter, which it turns into LF; Ctrl-A is no escape here.
        terminal.Type("c1 1 GET kx\u007f\u0001x\r");
        peer.WaitForReceived(Encoding.Latin1.GetBytes("c1 1 GET k\u0001x\n"), Timeout);
        terminal.WaitFor("c1 1 GET k");
        peer.CloseConnection();
        terminal.WaitFor("EXIT=1");
        Assert.Equal(0, terminal.WaitForExit());
    }

    [Fact]
    public void On_a_terminal_vmft_run_is_raw_ctrl_a_x_ends_it_with_exit_0_and_the_terminal_comes_back()
    {
        Assert.True(OnTerminal.Available, "util-linux's script is needed to give vmft a terminal");
        using var terminal = new OnTerminal($"{Vmft} run kvstore; echo EXIT=$?; stty -a");
        terminal.WaitFor("kvstore ready");
        // kvstore ends a request at LF; on a raw terminal that is Ctrl-J (Enter sends CR).
        terminal.Type("c1 1 PUT k v\n");
        terminal.WaitFor("c1 1 OK");
        terminal.Type("\u0001h");
        terminal.WaitFor("C-a h    print this help");
        terminal.Type("\u0001x");
        terminal.WaitFor("EXIT=0");
        Assert.Equal(0, terminal.WaitForExit());
        string screen = terminal.Screen;
        Assert.DoesNotContain("PUT k v", screen);            // no local echo; kvstore echoes nothing
        Assert.Contains("vmft: terminated (Ctrl-A x)", screen);
        string settings = screen[screen.IndexOf("EXIT=0", StringComparison.Ordinal)..].Replace("\r\n", " ") + " ";
        foreach (var flag in new[] { " icanon", " echo ", " isig" })
            Assert.Contains(flag, settings);
    }

    [Fact]
    public void Run_from_a_pipe_has_no_escape_key()
    {
        // Ctrl-A x in piped input is data: kvstore stores it and the run goes on to SHUTDOWN.
        var (exit, stdout, _) = VmftProcess.Run("c1 1 PUT k a\u0001xb\nc1 2 GET k\nSHUTDOWN\n", "run", "kvstore");
        Assert.Equal(1, exit);
        Assert.Contains("c1 2 VALUE a\u0001xb", stdout);
    }

    /// <summary>A stream the console writes to while the test reads it.</summary>
    private sealed class LockedStream : Stream
    {
        private readonly MemoryStream _inner = new();

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_inner) _inner.Write(buffer, offset, count);
        }

        public void WaitFor(string text, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                string now;
                lock (_inner) now = Encoding.Latin1.GetString(_inner.ToArray());
                if (now.Contains(text, StringComparison.Ordinal)) return;
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"the screen never showed '{text}': {now}");
                Thread.Sleep(10);
            }
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
