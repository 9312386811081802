namespace VmFt.Hypervisor.Serial;

/// <summary>
/// Another backend, passed through, that also watches the guest's output for a text and calls
/// <paramref name="seen"/> once it has been printed (<c>vmft record --until-output</c>).
/// </summary>
public sealed class WatchingSerialBackend(ISerialBackend inner, string text, Action seen) : ISerialBackend
{
    private int _matched;
    private bool _done;

    public int TryRead(Span<byte> buffer) => inner.TryRead(buffer);

    public void WaitForInput(TimeSpan timeout) => inner.WaitForInput(timeout);

    public bool InputClosed => inner.InputClosed;

    public bool InputReady => inner.InputReady;

    public void Write(byte value)
    {
        inner.Write(value);
        if (_done) return;
        // The text is matched as it streams; on a mismatch, fall back to the longest prefix of the
        // text that ends here (the text is short, so this is a small loop).
        while (true)
        {
            if (value == text[_matched])
            {
                if (++_matched == text.Length)
                {
                    _done = true;
                    seen();
                }
                return;
            }
            if (_matched == 0) return;
            _matched = LongestBorder(_matched);
        }
    }

    /// <summary>The longest proper prefix of the text's first <paramref name="length"/> characters that is also their suffix.</summary>
    private int LongestBorder(int length)
    {
        for (int k = length - 1; k > 0; k--)
            if (string.CompareOrdinal(text, 0, text, length - k, k) == 0) return k;
        return 0;
    }

    public void Flush() => inner.Flush();

    public void Dispose() => inner.Dispose();
}
