namespace VmFt.Hypervisor.Serial;

/// <summary>
/// The serial console on the process's standard input and output, as QEMU's <c>-serial stdio</c>:
/// on a terminal, raw with QEMU's escape key (see <see cref="TerminalConsole"/>); from a pipe, the
/// bytes as they come.
/// </summary>
public sealed class StdioSerialBackend : QueuedSerialBackend
{
    private readonly byte[] _outBuffer = new byte[4096];
    private int _outCount;

    /// <param name="lineMode">Leave the terminal in its line mode (see <see cref="TerminalConsole.OpenStandard"/>).</param>
    public StdioSerialBackend(bool lineMode = false) : this(TerminalConsole.OpenStandard(lineMode))
    {
    }

    public StdioSerialBackend(TerminalConsole terminal)
    {
        Terminal = terminal;
        terminal.Start(Enqueue, CloseInput);
    }

    public TerminalConsole Terminal { get; }

    public override void Write(byte value)
    {
        _outBuffer[_outCount++] = value;
        if (_outCount == _outBuffer.Length) Flush();
    }

    public override void Flush()
    {
        if (_outCount == 0) return;
        Terminal.Write(_outBuffer.AsSpan(0, _outCount));
        _outCount = 0;
    }

    public override void Dispose()
    {
        Flush();
        Terminal.Dispose();
        base.Dispose();
    }
}
