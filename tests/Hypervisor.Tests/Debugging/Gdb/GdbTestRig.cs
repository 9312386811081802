using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.Tests.Cli;
using VmFt.Hypervisor.Tests.Conformance;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>
/// Records a bundled guest into a temp folder and serves it with the gdb stub in-process
/// (<see cref="GdbServeCommand.Serve"/> on a thread); runs the real gdb against it.
/// </summary>
internal sealed class GdbTestRig : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _server;
    private readonly LineWriter _output = new();
    private readonly StringWriter _error = new();
    private int _exit = -1;

    public string Recording { get; }
    public string Elf { get; }
    public int Port { get; }
    public string ServerOutput => _output.Text;

    /// <param name="symbols">A System.map (or ELF) for the stub's <c>--symbols</c>; gdb then loads the file the stub names.</param>
    public GdbTestRig(GdbRecordings recordings, string guest, string? symbols = null, uint symbolOffset = 0)
        : this(recordings.Get(guest), Path.Combine(RepositoryPaths.Root, "Guest", "Images", "prebuilt", guest + ".elf"), symbols, symbolOffset)
    {
    }

    /// <summary>Serves any recording; gdb's symbols are the file the stub writes from <paramref name="symbols"/>.</summary>
    public GdbTestRig(string recording, string symbols, uint symbolOffset = 0) : this(recording, symbols, symbols, symbolOffset)
    {
    }

    private GdbTestRig(string recording, string elf, string? symbols, uint symbolOffset)
    {
        Recording = recording;
        Elf = elf;
        _server = new Thread(() => _exit = GdbServeCommand.Serve(Recording, "127.0.0.1:0", output: _output, error: _error, cancellation: _stop.Token,
            symbolsPath: symbols, symbolOffset: symbolOffset))
        { IsBackground = true, Name = "gdb server under test" };
        _server.Start();
        var match = _output.WaitFor(new Regex(@"gdb server listening on 127\.0\.0\.1:(\d+)\r?\n"), TimeSpan.FromSeconds(60))
            ?? throw new InvalidOperationException($"the server did not start: {_error} {_output.Text}");
        Port = int.Parse(match.Groups[1].Value);
        if (symbols is not null)
        {
            var named = _output.WaitFor(new Regex(@"gdb symbols: file (\S+)\r?\n"), TimeSpan.FromSeconds(10))
                ?? throw new InvalidOperationException($"the server named no symbol file: {_error} {_output.Text}");
            Elf = named.Groups[1].Value;
        }
    }

    public static void RecordGuest(string guest, string path)
    {
        var (exit, _, stderr) = VmftProcess.Run("", "record", guest, "-o", path, "--clock", "virtual");
        Assert.True(exit is 0 or 1, $"vmft record {guest} exit {exit}: {stderr}");
    }

    /// <summary>Runs gdb in batch mode: symbols from the guest's ELF, attached to the stub, then the commands.</summary>
    public string Gdb(params string[] commands)
    {
        // gdb prints target output (monitor replies) on stderr and the rest on stdout: one stream keeps the order.
        var info = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["-c", "exec \"$0\" \"$@\" 2>&1", "gdb", "-nx", "-batch", "-ex", "set confirm off", "-ex", "set pagination off", "-ex", "set architecture i386",
                     "-ex", $"file {Elf}", "-ex", $"target remote 127.0.0.1:{Port}"])
            info.ArgumentList.Add(arg);
        foreach (var c in commands)
        {
            info.ArgumentList.Add("-ex");
            info.ArgumentList.Add(c);
        }
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gdb did not finish: {stdout.Result}{stderr.Result}");
        }
        return stdout.Result.Replace("\r\n", "\n") + stderr.Result;
    }

    public TcpClient Connect()
    {
        var client = new TcpClient();
        client.Connect("127.0.0.1", Port);
        client.ReceiveTimeout = 30_000;
        return client;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _server.Join(TimeSpan.FromSeconds(30));
        _stop.Dispose();
    }

    /// <summary>Waits for the server to end by itself; its exit code, or null if it is still serving.</summary>
    public int? WaitForExit(TimeSpan timeout) => _server.Join(timeout) ? _exit : null;

    /// <summary>A writer whose text can be waited on from another thread.</summary>
    private sealed class LineWriter : TextWriter
    {
        private readonly StringBuilder _text = new();
        public override Encoding Encoding => Encoding.UTF8;

        public string Text
        {
            get { lock (_text) return _text.ToString(); }
        }

        public override void Write(char value)
        {
            lock (_text)
            {
                _text.Append(value);
                Monitor.PulseAll(_text);
            }
        }

        public Match? WaitFor(Regex pattern, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            lock (_text)
            {
                while (true)
                {
                    var m = pattern.Match(_text.ToString());
                    if (m.Success) return m;
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) return null;
                    Monitor.Wait(_text, left);
                }
            }
        }
    }
}
