using System.Runtime.InteropServices;

namespace VmFt.Hypervisor.Serial;

/// <summary>
/// A terminal in raw mode for as long as this object lives: keys reach the guest as typed (line
/// editing, Ctrl-C and Ctrl-Z are the guest shell's, not the host's), nothing is echoed locally.
/// The saved settings come back on every way out: <see cref="Dispose"/>, the process ending
/// (<see cref="AppDomain.ProcessExit"/>, also after <see cref="Environment.Exit"/>), an unhandled
/// exception (whose unwinding need not run finally blocks), and SIGTERM, SIGHUP, SIGINT and SIGQUIT
/// sent from elsewhere (the keys no longer send them). Output processing is left as it was, as
/// QEMU's stdio does: a guest that ends its lines with a bare LF still starts each at column 0.
/// </summary>
public sealed class RawTerminal : IDisposable
{
    private readonly int _fd;
    private readonly TermiosState _saved;
    private readonly List<PosixSignalRegistration> _signals = [];
    private int _restored;

    private RawTerminal(int fd)
    {
        _fd = fd;
        _saved = Termios.Get(fd);
        var raw = Termios.MakeRaw(_saved);
        raw.OutputFlags = _saved.OutputFlags;
        // The handlers are in place before the terminal changes, so no window leaves it raw.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        AppDomain.CurrentDomain.UnhandledException += OnUnhandledException;
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
            _signals.Add(PosixSignalRegistration.Create(signal, OnSignal));
        try
        {
            Termios.Set(fd, raw);
        }
        catch
        {
            Unregister();
            throw;
        }
    }

    /// <summary>Raw mode on <paramref name="fd"/> (standard input by default) when it is a terminal; null (nothing changed) when it is a pipe or a file.</summary>
    public static RawTerminal? EnterIfTerminal(int fd = 0) => Termios.IsTerminal(fd) ? new RawTerminal(fd) : null;

    /// <summary>True when <paramref name="fd"/> is a terminal (isatty).</summary>
    public static bool IsTerminal(int fd) => Termios.IsTerminal(fd);

    internal TermiosState Saved => _saved;

    /// <summary>Puts the saved settings back (once; later calls do nothing). Safe from any thread and from signal handlers.</summary>
    public void Restore()
    {
        if (Interlocked.Exchange(ref _restored, 1) != 0) return;
        // A terminal that has gone away (SIGHUP) cannot be restored, and there is nobody to tell.
        Termios.TrySet(_fd, _saved);
    }

    public void Dispose()
    {
        Restore();
        Unregister();
    }

    private void Unregister()
    {
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        AppDomain.CurrentDomain.UnhandledException -= OnUnhandledException;
        foreach (var s in _signals) s.Dispose();
        _signals.Clear();
    }

    private void OnProcessExit(object? sender, EventArgs e) => Restore();

    private void OnUnhandledException(object? sender, UnhandledExceptionEventArgs e) => Restore();

    // Not cancelled: the signal's default action (ending the process) follows the restore.
    private void OnSignal(PosixSignalContext context) => Restore();
}
