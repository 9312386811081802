using VmFt.Guest.Devices.Virtio;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;

namespace VmFt.Hypervisor.Network;

/// <summary>
/// The host's half of the virtio-net card (as <see cref="Storage.DiskService"/> is the disk's):
/// between slices it hands the guest the frames that arrived, through the <see cref="Recorder"/>,
/// so each is an event at a position and the log holds its bytes; it hands one only while the
/// guest has a receive buffer posted, so frames wait in the backend's bounded backlog rather than
/// being dropped by a guest that is a little slow to refill. Frames the guest sends are output:
/// they collect during a slice and go out on <see cref="Flush"/>.
/// </summary>
public sealed class NetworkService
{
    /// <summary>Most frames handed over between two slices, so a flood cannot stall the guest's own progress.</summary>
    public const int MaxFramesPerService = 256;

    private readonly VirtioNet _device;
    private readonly INetworkBackend _backend;
    private readonly List<byte[]> _outgoing = [];

    public NetworkService(PcMachine machine, INetworkBackend backend)
    {
        _device = machine.Network ?? throw new ArgumentException("the machine has no network card", nameof(machine));
        _backend = backend;
        machine.NetworkOutput = _outgoing.Add;
    }

    public VirtioNet Device => _device;
    public INetworkBackend Backend => _backend;

    /// <summary>Frames handed to the guest: also the next one's index in the log (a solo run numbers them itself).</summary>
    public ulong FramesIn { get; private set; }
    public ulong FramesOut { get; private set; }
    /// <summary>Frames from the backend too long for the card, dropped before they reached the log.</summary>
    public ulong Oversized { get; private set; }
    public ulong BytesIn { get; private set; }
    public ulong BytesOut { get; private set; }

    /// <summary>A frame waits and the guest has a buffer for it.</summary>
    public bool HasWork => _backend.FrameWaiting && _device.CanReceive;

    /// <summary>Delivers waiting frames while the guest has buffers for them; returns how many.</summary>
    public int Service(Recorder recorder)
    {
        int delivered = 0;
        while (delivered < MaxFramesPerService && _device.CanReceive && _backend.TryReceive(out var frame))
        {
            // Longer than any frame the card or the log takes (a TAP whose MTU was raised): the network's loss.
            if (frame.Length > VirtioNet.MaxFrameLength)
            {
                Oversized++;
                continue;
            }
            recorder.NetReceive(FramesIn, frame);
            FramesIn++;
            BytesIn += (ulong)frame.Length;
            delivered++;
        }
        return delivered;
    }

    /// <summary>Puts what the guest sent since the last flush on the network, in its order.</summary>
    public void Flush()
    {
        foreach (var frame in _outgoing)
        {
            _backend.Send(frame);
            FramesOut++;
            BytesOut += (ulong)frame.Length;
        }
        _outgoing.Clear();
    }
}
