using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace VmFt.Hypervisor.Network;

/// <summary>
/// A Linux TAP interface (<c>--net tap,ifname=NAME</c>, as QEMU's <c>-netdev tap</c>): /dev/net/tun
/// attached to the interface NAME with TUNSETIFF (IFF_TAP | IFF_NO_PI, so each read and write is
/// one bare Ethernet frame). The kernel creates the interface if it does not exist (in the
/// process's network namespace, gone when the process closes it) or attaches to a persistent one
/// (<c>ip tuntap add NAME mode tap</c>). Either way it needs CAP_NET_ADMIN unless the persistent
/// interface belongs to the user. A reader thread moves arriving frames into a bounded backlog.
/// </summary>
public sealed unsafe partial class TapDevice : INetworkBackend
{
    /// <summary>Frames that wait for the guest at most; later ones are dropped (as a full NIC ring would).</summary>
    public const int MaxBacklog = 1024;
    private const int ReadBufferSize = 65536;
    private const int ORdWr = 2, OCloExec = 0x80000;
    private const nuint TunSetIff = 0x400454CA;
    private const short IffTap = 0x0002, IffNoPi = 0x1000;
    private const short PollIn = 0x0001;
    private const int EIntr = 4, EAgain = 11, ENoEnt = 2, EAccess = 13, EPerm = 1, EBusy = 16, EInval = 22, ENoDev = 19;
    private const int IfNameSize = 16, IfReqSize = 40;

    private readonly int _fd;
    private readonly Queue<byte[]> _backlog = new();
    private readonly Thread _reader;
    private volatile bool _stopping;
    private ulong _dropped;

    private TapDevice(int fd, string name)
    {
        _fd = fd;
        Name = name;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"tap {name}" };
        _reader.Start();
    }

    public string Name { get; }

    public ulong Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Write errors (an interface that is down refuses frames): the frames are lost, as on a cable pulled out.</summary>
    public ulong SendErrors { get; private set; }

    /// <summary>
    /// Opens (or creates) TAP interface <paramref name="name"/>; <paramref name="what"/> begins each
    /// message. With <paramref name="netns"/> (<c>netns=NS</c>), the interface is the one in that
    /// network namespace (a name under /run/netns or a path): only the opening happens there, so the
    /// process's own sockets stay where they are (needs CAP_SYS_ADMIN as well).
    /// </summary>
    /// <exception cref="NetworkBackendException">No /dev/net/tun, no permission, the name is taken or not valid, no such namespace.</exception>
    public static TapDevice Open(string name, string what, string? netns = null) =>
        netns is null ? OpenHere(name, what) : NetworkNamespace.Inside(netns, what, () => OpenHere(name, what));

    private static TapDevice OpenHere(string name, string what)
    {
        if (name.Length is 0 or >= IfNameSize || name.Contains('/') || name.Any(char.IsWhiteSpace) || name is "." or ".." || name.Any(c => c > 0x7E))
            throw new NetworkBackendException($"{what}: '{name}' is not an interface name (1 to {IfNameSize - 1} printable ASCII characters, no '/' or spaces)");
        if (!OperatingSystem.IsLinux()) throw new NetworkBackendException($"{what}: TAP devices exist only on Linux");
        int fd = Open("/dev/net/tun", ORdWr | OCloExec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new NetworkBackendException(errno switch
            {
                ENoEnt or ENoDev => $"{what}: there is no /dev/net/tun on this host (the tun driver is not loaded, or the device node is missing)",
                EAccess or EPerm => $"{what}: cannot open /dev/net/tun: permission denied (a TAP device needs CAP_NET_ADMIN: run as root or with that capability)",
                _ => $"{what}: cannot open /dev/net/tun: {Marshal.GetPInvokeErrorMessage(errno)}",
            });
        }
        byte* request = stackalloc byte[IfReqSize];
        new Span<byte>(request, IfReqSize).Clear();
        for (int i = 0; i < name.Length; i++) request[i] = (byte)name[i];
        *(short*)(request + IfNameSize) = IffTap | IffNoPi;
        if (IoControl(fd, TunSetIff, request) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Close(fd);
            throw new NetworkBackendException(errno switch
            {
                EPerm or EAccess => $"{what}: cannot attach TAP device {name}: operation not permitted (creating one needs CAP_NET_ADMIN; a persistent one must belong to this user)",
                EBusy => $"{what}: TAP device {name}: the name is in use (another process has it open)",
                EInval => $"{what}: {name}: the name is taken by an interface that is not a TAP device, or the kernel refuses it",
                _ => $"{what}: cannot attach TAP device {name}: {Marshal.GetPInvokeErrorMessage(errno)}",
            });
        }
        return new TapDevice(fd, name);
    }

    public bool FrameWaiting
    {
        get
        {
            lock (_backlog) return _backlog.Count > 0;
        }
    }

    public bool TryReceive([NotNullWhen(true)] out byte[]? frame)
    {
        lock (_backlog) return _backlog.TryDequeue(out frame);
    }

    public bool WaitForFrame(TimeSpan timeout)
    {
        lock (_backlog)
        {
            if (_backlog.Count == 0 && !_stopping) Monitor.Wait(_backlog, timeout);
            return _backlog.Count > 0;
        }
    }

    public void Send(ReadOnlySpan<byte> frame)
    {
        fixed (byte* p = frame)
        {
            while (true)
            {
                nint n = Write(_fd, p, frame.Length);
                if (n >= 0) return;
                if (Marshal.GetLastPInvokeError() == EIntr) continue;
                SendErrors++;
                return;
            }
        }
    }

    private void ReadLoop()
    {
        var buffer = new byte[ReadBufferSize];
        var poll = new PollDescriptor { Fd = _fd, Events = PollIn };
        while (!_stopping)
        {
            int ready = Poll(&poll, 1, 100);
            if (ready < 0 && Marshal.GetLastPInvokeError() == EIntr) continue;
            if (ready <= 0) continue;
            nint n;
            fixed (byte* p = buffer) n = Read(_fd, p, buffer.Length);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is EIntr or EAgain) continue;
                return;   // the interface went away: no more frames arrive
            }
            if (n == 0) continue;
            lock (_backlog)
            {
                if (_backlog.Count >= MaxBacklog)
                {
                    _dropped++;
                    continue;
                }
                _backlog.Enqueue(buffer.AsSpan(0, (int)n).ToArray());
                Monitor.PulseAll(_backlog);
            }
        }
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        lock (_backlog) Monitor.PulseAll(_backlog);
        _reader.Join();
        Close(_fd);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoControl(int fd, nuint request, byte* argument);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollDescriptor* descriptors, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
