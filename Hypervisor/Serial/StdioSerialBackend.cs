namespace VmFt.Hypervisor.Serial;

/// <summary>The serial console on the process's standard input and output, as QEMU's <c>-serial stdio</c>.</summary>
public sealed class StdioSerialBackend : QueuedSerialBackend
{
    private readonly Stream _stdout = Console.OpenStandardOutput();
    private readonly byte[] _outBuffer = new byte[4096];
    private int _outCount;

    public StdioSerialBackend()
    {
        var reader = new Thread(ReadLoop) { IsBackground = true, Name = "serial stdin" };
        reader.Start();
    }

    private void ReadLoop()
    {
        using var stdin = Console.OpenStandardInput();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = stdin.Read(buffer, 0, buffer.Length)) > 0)
                Enqueue(buffer.AsSpan(0, n));
        }
        catch (IOException)
        {
        }
        CloseInput();
    }

    public override void Write(byte value)
    {
        _outBuffer[_outCount++] = value;
        if (_outCount == _outBuffer.Length) Flush();
    }

    public override void Flush()
    {
        if (_outCount == 0) return;
        _stdout.Write(_outBuffer, 0, _outCount);
        _stdout.Flush();
        _outCount = 0;
    }

    public override void Dispose()
    {
        Flush();
        base.Dispose();
    }
}
