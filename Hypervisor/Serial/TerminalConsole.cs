using Microsoft.Win32.SafeHandles;

namespace VmFt.Hypervisor.Serial;

/// <summary>Receives what was typed for the guest (the escape key's own bytes already taken out).</summary>
public delegate void ConsoleInput(ReadOnlySpan<byte> data);

/// <summary>
/// The console a person types at, for <c>vmft run --serial stdio</c> and <c>vmft console</c>:
/// standard input and output. When standard input is a terminal it is put into raw mode (restored
/// on every way out, see <see cref="RawTerminal"/>) and the escape key works (<see cref="ConsoleEscape"/>:
/// Ctrl-A x quits, Ctrl-A h helps, Ctrl-A Ctrl-A types a Ctrl-A); when it is a pipe or a file the
/// bytes pass as they are, with no escape, as before.
/// </summary>
public sealed class TerminalConsole : IDisposable
{
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly RawTerminal? _raw;
    private readonly ConsoleEscape? _escape;
    private readonly object _writeGate = new();
    private readonly CancellationTokenSource _quit = new();
    private Thread? _reader;

    /// <param name="escape">Whether the escape key is honoured (a terminal: yes; a pipe: no, its bytes are data).</param>
    /// <param name="raw">The raw terminal to restore when this console ends, if any.</param>
    public TerminalConsole(Stream input, Stream output, bool escape, RawTerminal? raw = null)
    {
        _input = input;
        _output = output;
        _escape = escape ? new ConsoleEscape() : null;
        _raw = raw;
    }

    /// <summary>
    /// Standard input and output; raw with the escape key when standard input is a terminal, unless
    /// <paramref name="lineMode"/> keeps the terminal as it is (its own echo and line editing, Enter
    /// as LF, Ctrl-C a signal) for guests that speak a line protocol and echo nothing.
    /// </summary>
    public static TerminalConsole OpenStandard(bool lineMode = false)
    {
        var raw = lineMode ? null : RawTerminal.EnterIfTerminal(0);
        if (raw is null) return new TerminalConsole(Console.OpenStandardInput(), Console.OpenStandardOutput(), escape: false);
        // On a terminal, .NET's standard input stream edits lines itself (and echoes); the raw
        // bytes come from the descriptor.
        var input = new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
        var output = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
        return new TerminalConsole(input, output, escape: true, raw);
    }

    /// <summary>True when a terminal is in raw mode for this console (and the escape key works).</summary>
    public bool IsRaw => _raw is not null;

    public bool EscapeEnabled => _escape is not null;

    /// <summary>Cancelled when Ctrl-A x was typed.</summary>
    public CancellationToken QuitRequested => _quit.Token;

    /// <summary>
    /// Reads the input on a background thread: what is for the guest goes to <paramref name="input"/>;
    /// <paramref name="ended"/> is called when the input ends (end of file, a read error), not after a quit.
    /// </summary>
    public void Start(ConsoleInput input, Action ended)
    {
        if (_reader is not null) throw new InvalidOperationException("the console is already reading");
        _reader = new Thread(() => ReadLoop(input, ended)) { IsBackground = true, Name = "console input" };
        _reader.Start();
    }

    private void ReadLoop(ConsoleInput input, Action ended)
    {
        var buffer = new byte[4096];
        var forGuest = new byte[buffer.Length];
        try
        {
            int n;
            while ((n = _input.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (_escape is null)
                {
                    input(buffer.AsSpan(0, n));
                    continue;
                }
                var (count, quit) = _escape.Filter(buffer.AsSpan(0, n), forGuest, () => Write(ConsoleEscape.HelpText));
                if (count > 0) input(forGuest.AsSpan(0, count));
                if (quit)
                {
                    _quit.Cancel();
                    return;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        ended();
    }

    /// <summary>Writes to the console's output at once (the guest's output and the console's own messages share it).</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_writeGate)
        {
            _output.Write(data);
            _output.Flush();
        }
    }

    public void Write(string text) => Write(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Gives the terminal its settings back now (a message after this is shown as usual); <see cref="Dispose"/> does it too.</summary>
    public void RestoreTerminal() => _raw?.Restore();

    public void Dispose()
    {
        _raw?.Dispose();
        _quit.Dispose();
    }
}
