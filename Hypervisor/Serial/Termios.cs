using System.Runtime.InteropServices;

namespace VmFt.Hypervisor.Serial;

/// <summary>
/// glibc's <c>struct termios</c> on Linux (x86-64 and arm64 lay it out alike): four flag words,
/// the line discipline, 32 control characters and the two speeds. The slack after it keeps a libc
/// with a longer structure from writing past ours; only the fields below are ever looked at.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TermiosState
{
    public uint InputFlags, OutputFlags, ControlFlags, LocalFlags;
    public byte LineDiscipline;
    public fixed byte ControlChars[32];
    public uint InputSpeed, OutputSpeed;
    private fixed byte _slack[64];

    // Linux's values (asm-generic/termbits.h).
    public const uint Icrnl = 0x100, Ixon = 0x400;
    public const uint Opost = 0x1;
    public const uint Isig = 0x1, Icanon = 0x2, Echo = 0x8, Iexten = 0x8000;
    public const int Vmin = 6, Vtime = 5;

    /// <summary>The fields a terminal acts on, for comparing a restored terminal with the one saved.</summary>
    public readonly (uint, uint, uint, uint) Flags => (InputFlags, OutputFlags, ControlFlags, LocalFlags);
}

/// <summary>The few libc terminal calls the console needs (Linux only, as the project).</summary>
internal static partial class Termios
{
    private const int TcsaNow = 0, TcsaDrain = 1;

    [LibraryImport("libc", EntryPoint = "isatty")]
    private static partial int IsATty(int fd);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    private static partial int GetAttributes(int fd, ref TermiosState state);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    private static partial int SetAttributes(int fd, int when, ref TermiosState state);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static partial void MakeRawCore(ref TermiosState state);

    public static bool IsTerminal(int fd) => OperatingSystem.IsLinux() && IsATty(fd) == 1;

    public static TermiosState Get(int fd)
    {
        var state = default(TermiosState);
        if (GetAttributes(fd, ref state) != 0) throw new IOException($"tcgetattr({fd}) failed: errno {Marshal.GetLastPInvokeError()}");
        return state;
    }

    /// <summary>Sets the terminal once its pending output is written (TCSADRAIN), so that nothing already written is shown under the new settings.</summary>
    public static bool TrySet(int fd, TermiosState state, bool drain = true) => SetAttributes(fd, drain ? TcsaDrain : TcsaNow, ref state) == 0;

    public static void Set(int fd, TermiosState state)
    {
        if (!TrySet(fd, state)) throw new IOException($"tcsetattr({fd}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>cfmakeraw: bytes as typed, no echo, no line editing, no signal keys (Ctrl-C is a byte), one byte is enough for a read.</summary>
    public static TermiosState MakeRaw(TermiosState state)
    {
        MakeRawCore(ref state);
        return state;
    }
}
