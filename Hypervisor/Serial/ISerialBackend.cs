namespace VmFt.Hypervisor.Serial;

/// <summary>Where the guest's serial console goes: the terminal, a TCP client, a test's buffer.</summary>
public interface ISerialBackend : IDisposable
{
    /// <summary>Copies input that has arrived into <paramref name="buffer"/> without blocking; returns the count.</summary>
    int TryRead(Span<byte> buffer);

    /// <summary>Waits until input arrives, the input side closes, or the timeout passes.</summary>
    void WaitForInput(TimeSpan timeout);

    /// <summary>Whether input is waiting, so <see cref="TryRead"/> would return some (false when the backend cannot tell).</summary>
    bool InputReady => false;

    /// <summary>True once no more input can ever arrive (end of file, client gone).</summary>
    bool InputClosed { get; }

    void Write(byte value);

    void Flush();
}
