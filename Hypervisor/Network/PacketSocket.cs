using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VmFt.Hypervisor.Network;

/// <summary>
/// A raw Ethernet socket (AF_PACKET, SOCK_RAW) bound to one interface: whole frames out, whole
/// frames in, as a station on that link would send and see them. With <see cref="AllProtocols"/>
/// it sees every frame on the interface in both directions, as a capture does; with one EtherType,
/// only frames of that type that arrive. Opened inside a network namespace (<see cref="NetworkNamespace.Inside{T}"/>),
/// where the test's or benchmark's TAP is. Needs CAP_NET_RAW.
/// </summary>
public sealed unsafe partial class PacketSocket : IDisposable
{
    /// <summary>ETH_P_ALL: every frame, whatever its type, sent or received.</summary>
    public const ushort AllProtocols = 0x0003;
    private const int AfPacket = 17, SockRaw = 3, SockCloExec = 0x80000;
    private const int SolSocket = 1, SoRcvBufForce = 33, SolPacket = 263, PacketStatistics = 6;
    private const byte PacketOutgoing = 4;
    private const short PollIn = 0x0001;
    private const int EIntr = 4;

    private readonly int _fd;
    private readonly int _interfaceIndex;
    private int _closed;

    private PacketSocket(int fd, int interfaceIndex)
    {
        _fd = fd;
        _interfaceIndex = interfaceIndex;
    }

    /// <summary>
    /// Opens a socket on interface <paramref name="interfaceName"/> of network namespace
    /// <paramref name="netns"/> (null: this thread's own) for frames of EtherType <paramref name="protocol"/>.
    /// </summary>
    /// <exception cref="NetworkBackendException">No such interface or namespace, no permission.</exception>
    public static PacketSocket Open(string interfaceName, ushort protocol, string? netns = null)
    {
        string what = $"packet socket on {interfaceName}";
        return netns is null ? OpenHere(interfaceName, protocol, what) : NetworkNamespace.Inside(netns, what, () => OpenHere(interfaceName, protocol, what));
    }

    private static PacketSocket OpenHere(string interfaceName, ushort protocol, string what)
    {
        int index = (int)InterfaceIndex(interfaceName);
        if (index == 0) throw new NetworkBackendException($"{what}: there is no interface {interfaceName} here");
        // Protocol 0 until bound: the socket takes nothing from other interfaces in between.
        int fd = Socket(AfPacket, SockRaw | SockCloExec, 0);
        if (fd < 0) throw new NetworkBackendException($"{what}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())} (a raw socket needs CAP_NET_RAW)");
        var address = new LinkAddress { Family = AfPacket, Protocol = BinaryPrimitives.ReverseEndianness(protocol), InterfaceIndex = index };
        if (Bind(fd, &address, sizeof(LinkAddress)) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Close(fd);
            throw new NetworkBackendException($"{what}: bind: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        // Room for a few thousand small frames, so a burst waits in the kernel rather than being dropped (root may exceed rmem_max).
        int size = 8 << 20;
        SetOption(fd, SolSocket, SoRcvBufForce, &size, sizeof(int));
        return new PacketSocket(fd, index);
    }

    /// <summary>Sends one whole frame (destination, source, EtherType, payload) on the interface; false if the kernel refused it.</summary>
    public bool Send(ReadOnlySpan<byte> frame)
    {
        var address = new LinkAddress { Family = AfPacket, InterfaceIndex = _interfaceIndex, AddressLength = 6 };
        fixed (byte* p = frame)
        {
            frame[..6].CopyTo(new Span<byte>(address.Address, 8));
            while (true)
            {
                nint n = SendTo(_fd, p, frame.Length, 0, &address, sizeof(LinkAddress));
                if (n >= 0) return true;
                if (Marshal.GetLastPInvokeError() != EIntr) return false;
            }
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for a frame; its length (0: none came), and whether it
    /// was one this host sent (with <see cref="AllProtocols"/>, a frame going out on the interface).
    /// </summary>
    public int Receive(Span<byte> buffer, int timeoutMs, out bool outgoing)
    {
        outgoing = false;
        var poll = new PollDescriptor { Fd = _fd, Events = PollIn };
        int ready = Poll(&poll, 1, timeoutMs);
        if (ready <= 0) return 0;
        var from = default(LinkAddress);
        int fromLength = sizeof(LinkAddress);
        nint n;
        fixed (byte* p = buffer) n = ReceiveFrom(_fd, p, buffer.Length, 0, &from, &fromLength);
        if (n <= 0) return 0;
        outgoing = from.PacketType == PacketOutgoing;
        return (int)n;
    }

    /// <summary>Frames the kernel dropped for this socket since the last call (its receive buffer was full).</summary>
    public uint TakeDrops()
    {
        var stats = default(Statistics);
        int length = sizeof(Statistics);
        return GetOption(_fd, SolPacket, PacketStatistics, &stats, &length) == 0 ? stats.Drops : 0;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0) Close(_fd);
    }

    /// <summary>struct sockaddr_ll.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct LinkAddress
    {
        public ushort Family;
        public ushort Protocol;
        public int InterfaceIndex;
        public ushort HardwareType;
        public byte PacketType;
        public byte AddressLength;
        public fixed byte Address[8];
    }

    /// <summary>struct tpacket_stats.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Statistics
    {
        public uint Packets;
        public uint Drops;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint InterfaceIndex(string name);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int Bind(int fd, LinkAddress* address, int length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetOption(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetOption(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", EntryPoint = "sendto", SetLastError = true)]
    private static partial nint SendTo(int fd, byte* buffer, nint length, int flags, LinkAddress* address, int addressLength);

    [LibraryImport("libc", EntryPoint = "recvfrom", SetLastError = true)]
    private static partial nint ReceiveFrom(int fd, byte* buffer, nint length, int flags, LinkAddress* address, int* addressLength);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollDescriptor* descriptors, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
