using VmFt.Guest.Machine;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Devices.Virtio;

/// <summary>
/// virtio-net (virtio 1.1, 5.1) on <see cref="VirtioPciFunction"/>: a receive queue (0) and a
/// transmit queue (1) of 256 entries, no control queue; features MAC and STATUS only, so no
/// checksum or segmentation offload: every frame is a whole Ethernet frame (without its FCS)
/// behind the 12-byte virtio_net_hdr, all of whose fields are zero but num_buffers = 1. The link
/// is always up.
/// <para>
/// Receive buffers: neither mergeable (MRG_RXBUF) nor big buffers (which only the GUEST_TSO/UFO
/// offloads call for) are offered. Each frame goes into exactly one chain, which Linux then posts
/// as one "small" buffer of 12 + 1518 bytes: room for any frame of a 1500-byte MTU, VLAN tag
/// included. A frame that does not fit the chain at the head of the ring is dropped and counted,
/// and the chain stays there for the next frame; with no chain posted (a driver not running, or
/// one that never refills) frames are dropped and counted too. The device holds no frame itself:
/// whatever waits is the host's, and bounded there.
/// </para>
/// <para>
/// Frames arrive through <see cref="Receive"/>, called at a position the log records. Transmitted
/// frames leave through the callback as the guest notifies the queue (they are output: the host
/// decides when they reach the network) and their chains complete at once, so nothing is in flight
/// in the device across a slice or a snapshot; <see cref="TransmittedFrames"/> numbers them.
/// </para>
/// </summary>
public sealed class VirtioNet : VirtioPciFunction
{
    public const ushort DeviceType = 1;
    public const ushort QueueSize = 256;
    public const int ReceiveQueue = 0, TransmitQueue = 1;
    public const int FeatureMac = 5, FeatureStatus = 16;
    public const ushort StatusLinkUp = 1;
    /// <summary>The virtio_net_hdr with num_buffers, which VERSION_1 always has (5.1.6).</summary>
    public const int HeaderLength = 12;
    /// <summary>Largest frame either way: what one read of a TAP device returns, and what one log event carries.</summary>
    public const int MaxFrameLength = 65535;
    /// <summary>Smallest frame sent: an Ethernet header.</summary>
    public const int MinFrameLength = 14;

    private readonly NetworkConfiguration _config;
    private readonly Action<byte[]> _transmit;
    private ulong _received, _droppedNoBuffer, _droppedTooLarge, _transmitted, _transmitDropped;

    /// <param name="transmit">Takes each frame the guest sends, in order (the array is the caller's to keep).</param>
    public VirtioNet(PhysicalMemory memory, Action<bool> interrupt, NetworkConfiguration config, Action<byte[]> transmit)
        : base(memory, interrupt, DeviceType, 0x02_00_00, queueCount: 2, QueueSize)
    {
        _config = config;
        _transmit = transmit;
        State = new StateAdapter(this);
    }

    public NetworkConfiguration Network => _config;

    /// <summary>The device's own state (not the configuration space) under the machine's tag for it.</summary>
    public IStatefulDevice State { get; }

    /// <summary>Frames delivered into guest buffers.</summary>
    public ulong ReceivedFrames => _received;
    /// <summary>Frames dropped because no receive buffer was posted (or the driver was not running).</summary>
    public ulong ReceiveDroppedNoBuffer => _droppedNoBuffer;
    /// <summary>Frames dropped because they did not fit the receive chain (or exceeded <see cref="MaxFrameLength"/>).</summary>
    public ulong ReceiveDroppedTooLarge => _droppedTooLarge;
    /// <summary>Frames the guest sent: the next one's number in the guest's transmit order, from 0.</summary>
    public ulong TransmittedFrames => _transmitted;
    /// <summary>Transmit chains that held no valid frame (shorter than a header, or too long): completed and not sent.</summary>
    public ulong TransmitDropped => _transmitDropped;

    /// <summary>Whether a frame delivered now would find a receive buffer (the host waits for this before it delivers).</summary>
    public bool CanReceive => HasAvailableChain(ReceiveQueue);

    protected override ulong OfferedFeatures => 1UL << FeatureMac | 1UL << FeatureStatus;

    protected override void ReadDeviceConfig(Span<byte> config)
    {
        _config.MacBytes().CopyTo(config);
        Put16(config, 6, StatusLinkUp);
        Put16(config, 8, 1);   // max_virtqueue_pairs (read only with MQ, offered as 1 all the same)
    }

    // Nothing is in flight: receive chains simply stay in the ring that the reset forgets.
    protected override void DeviceReset() { }

    protected override void QueueNotified(int index)
    {
        // New receive buffers need nothing now: the next frame the host delivers finds them.
        if (index != TransmitQueue) return;
        while (TryPopChain(index, out ushort head, out var buffers))
        {
            Transmit(buffers);
            CompleteChain(index, head, 0);
        }
    }

    private void Transmit(IReadOnlyList<VirtqueueBuffer> buffers)
    {
        ulong readable = 0;
        foreach (var b in buffers)
            if (!b.DeviceWritable) readable += b.Length;
        if (readable < HeaderLength + MinFrameLength || readable - HeaderLength > MaxFrameLength)
        {
            _transmitDropped++;
            return;
        }
        var frame = new byte[readable - HeaderLength];
        var ram = Ram;
        ulong skip = HeaderLength;
        int at = 0;
        foreach (var b in buffers)
        {
            if (b.DeviceWritable) continue;
            if (skip >= b.Length) { skip -= b.Length; continue; }
            int n = (int)(b.Length - skip);
            ram.Span(b.Address + skip, n, "a transmit buffer").CopyTo(frame.AsSpan(at));
            at += n;
            skip = 0;
        }
        _transmitted++;
        _transmit(frame);
    }

    /// <summary>
    /// A frame arrived from the network: into the next receive chain, behind its header, and the
    /// chain back to the driver (with an interrupt if it wants one); or dropped and counted.
    /// </summary>
    public NetReceiveResult Receive(ReadOnlySpan<byte> frame)
    {
        if (frame.Length > MaxFrameLength)
        {
            _droppedTooLarge++;
            return NetReceiveResult.TooLarge;
        }
        if (!HasAvailableChain(ReceiveQueue))
        {
            _droppedNoBuffer++;
            return NetReceiveResult.NoBuffer;
        }
        ushort head;
        try
        {
            if (!TryPopChain(ReceiveQueue, out head, out var buffers))
            {
                _droppedNoBuffer++;
                return NetReceiveResult.NoBuffer;
            }
            ulong room = 0;
            foreach (var b in buffers)
            {
                if (!b.DeviceWritable) throw new VirtioError("a receive chain with a device-readable buffer");
                room += b.Length;
            }
            if (room < (ulong)(HeaderLength + frame.Length))
            {
                UnpopChain(ReceiveQueue);
                _droppedTooLarge++;
                return NetReceiveResult.TooLarge;
            }
            Span<byte> header = stackalloc byte[HeaderLength];
            header.Clear();
            Put16(header, 10, 1);   // num_buffers
            int at = Scatter(buffers, 0, header);
            Scatter(buffers, at, frame);
        }
        catch (VirtioError e)
        {
            Fail(e.Message);
            _droppedNoBuffer++;
            return NetReceiveResult.NoBuffer;
        }
        CompleteChain(ReceiveQueue, head, (uint)(HeaderLength + frame.Length));
        _received++;
        return NetReceiveResult.Delivered;
    }

    /// <summary>Writes <paramref name="data"/> across the chain from byte <paramref name="offset"/>; returns the offset after it.</summary>
    private int Scatter(IReadOnlyList<VirtqueueBuffer> buffers, int offset, ReadOnlySpan<byte> data)
    {
        var ram = Ram;
        int end = offset + data.Length;
        ulong skip = (ulong)offset;
        foreach (var b in buffers)
        {
            if (data.IsEmpty) break;
            if (skip >= b.Length) { skip -= b.Length; continue; }
            int n = (int)Math.Min(b.Length - skip, (ulong)data.Length);
            ram.Write(b.Address + skip, data[..n], "a receive buffer");
            data = data[n..];
            skip = 0;
        }
        return end;
    }

    private sealed class StateAdapter(VirtioNet device) : IStatefulDevice
    {
        public byte StateVersion => 1;

        public void SaveState(BinaryWriter w)
        {
            device.SaveTransport(w);
            w.Write(device._received);
            w.Write(device._droppedNoBuffer);
            w.Write(device._droppedTooLarge);
            w.Write(device._transmitted);
            w.Write(device._transmitDropped);
        }

        public void LoadState(BinaryReader r)
        {
            device.LoadTransport(r);
            device._received = r.ReadUInt64();
            device._droppedNoBuffer = r.ReadUInt64();
            device._droppedTooLarge = r.ReadUInt64();
            device._transmitted = r.ReadUInt64();
            device._transmitDropped = r.ReadUInt64();
        }
    }
}
