namespace VmFt.Hypervisor.Serial;

/// <summary>What a typed byte means to the console: a byte for the guest, or a command of the escape key.</summary>
public enum EscapeAction
{
    /// <summary>Send the byte to the guest (after Ctrl-A Ctrl-A: one Ctrl-A).</summary>
    Forward,
    /// <summary>Nothing for the guest: the escape key itself, or an escape command that means nothing.</summary>
    None,
    /// <summary>Ctrl-A x: leave.</summary>
    Quit,
    /// <summary>Ctrl-A h or Ctrl-A ?: show the escape keys.</summary>
    Help,
}

/// <summary>
/// The console's escape key, as QEMU's: Ctrl-A starts a command, <c>x</c> quits, <c>h</c> (or
/// <c>?</c>) shows the keys, a second Ctrl-A sends one Ctrl-A to the guest; any other key after
/// Ctrl-A is dropped (QEMU drops it too). Pure: bytes in, actions out; the escape may span reads.
/// </summary>
public sealed class ConsoleEscape
{
    public const byte EscapeKey = 0x01; // Ctrl-A

    /// <summary>What the user reads after Ctrl-A h (lines end in CR LF: the terminal is raw).</summary>
    public const string HelpText =
        "\r\nC-a x    quit\r\nC-a h    print this help\r\nC-a C-a  send C-a to the guest\r\n";

    private bool _pending;

    /// <summary>True after a Ctrl-A whose command has not been typed yet.</summary>
    public bool Pending => _pending;

    public EscapeAction Step(byte b)
    {
        if (_pending)
        {
            _pending = false;
            return b switch
            {
                EscapeKey => EscapeAction.Forward,
                (byte)'x' or (byte)'X' => EscapeAction.Quit,
                (byte)'h' or (byte)'H' or (byte)'?' => EscapeAction.Help,
                _ => EscapeAction.None,
            };
        }
        if (b == EscapeKey)
        {
            _pending = true;
            return EscapeAction.None;
        }
        return EscapeAction.Forward;
    }

    /// <summary>
    /// Filters one read: the bytes for the guest go to <paramref name="toGuest"/> (as long as the
    /// input), <paramref name="help"/> is called for each help request; returns the count for the
    /// guest and whether a quit was typed (the bytes after it are not looked at).
    /// </summary>
    public (int Count, bool Quit) Filter(ReadOnlySpan<byte> input, Span<byte> toGuest, Action? help = null)
    {
        int n = 0;
        foreach (byte b in input)
        {
            switch (Step(b))
            {
                case EscapeAction.Forward:
                    toGuest[n++] = b;
                    break;
                case EscapeAction.Quit:
                    return (n, true);
                case EscapeAction.Help:
                    help?.Invoke();
                    break;
            }
        }
        return (n, false);
    }
}
