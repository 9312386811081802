using System.Buffers.Binary;
using VmFt.Guest.Devices.Virtio;
using VmFt.Guest.Machine;

namespace VmFt.Guest.Tests.Devices.Virtio;

/// <summary>
/// A minimal virtio-net driver for the device tests, written from the specification: it sets up
/// the receive and the transmit queue at fixed RAM addresses (one page apart), posts receive
/// buffers and sends frames as a guest does, through the configuration space and BAR 0.
/// </summary>
internal sealed class NetTestDriver
{
    public const ushort QueueSize = 16;
    public const uint RxBase = 0x10000, TxBase = 0x18000, RxData = 0x40000, TxData = 0x80000;
    private const uint DescOffset = 0, AvailOffset = 0x1000, UsedOffset = 0x2000;
    public readonly PcMachine Machine;
    public readonly List<byte[]> Sent = [];
    private readonly ushort[] _availIdx = new ushort[2];
    private readonly ushort[] _nextDesc = new ushort[2];

    public NetTestDriver(ulong mac = NetworkConfiguration.DefaultMac)
    {
        Machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20, Network = new NetworkConfiguration(mac) });
        Machine.NetworkOutput = Sent.Add;
    }

    public VirtioNet Device => Machine.Network!;
    public uint Bar => PcMachine.NetworkBarAddress;

    public uint ReadConfig(int register, int size = 4)
    {
        Machine.Ports.Write(0xCF8, 4, 0x8000_0000u | (uint)PcMachine.NetworkSlot << 11 | (uint)(register & 0xFC));
        return Machine.Ports.Read((ushort)(0xCFC + (register & 3)), size);
    }

    public void WriteConfig(int register, int size, uint value)
    {
        Machine.Ports.Write(0xCF8, 4, 0x8000_0000u | (uint)PcMachine.NetworkSlot << 11 | (uint)(register & 0xFC));
        Machine.Ports.Write((ushort)(0xCFC + (register & 3)), size, value);
    }

    public uint Common(uint offset, int size) => Machine.Memory.Read(Bar + offset, size);
    public void SetCommon(uint offset, int size, uint value) => Machine.Memory.Write(Bar + offset, size, value);
    public byte Status => (byte)Common(0x14, 1);
    public uint DeviceConfig(uint offset, int size) => Machine.Memory.Read(Bar + VirtioPciFunction.DeviceOffset + offset, size);

    public static uint QueueBase(int queue) => queue == VirtioNet.ReceiveQueue ? RxBase : TxBase;

    /// <summary>Negotiates VERSION_1 (and <paramref name="extra"/>), sets up both queues, DRIVER_OK.</summary>
    public void Initialize(ulong extra = 0)
    {
        Array.Clear(_availIdx);
        Array.Clear(_nextDesc);
        Ram(RxBase, 0x8000).Clear();
        Ram(TxBase, 0x8000).Clear();
        WriteConfig(0x04, 2, 0x0006);
        SetCommon(0x14, 1, 0);
        SetCommon(0x14, 1, 3);
        ulong features = VirtioTestDriver.Version1 | extra;
        SetCommon(0x08, 4, 0);
        SetCommon(0x0C, 4, (uint)features);
        SetCommon(0x08, 4, 1);
        SetCommon(0x0C, 4, (uint)(features >> 32));
        SetCommon(0x14, 1, 0x0B);
        Assert.Equal(0x0B, Status);
        for (int q = 0; q < 2; q++)
        {
            uint b = QueueBase(q);
            SetCommon(0x16, 2, (uint)q);
            SetCommon(0x18, 2, QueueSize);
            SetCommon(0x20, 4, b + DescOffset);
            SetCommon(0x28, 4, b + AvailOffset);
            SetCommon(0x30, 4, b + UsedOffset);
            SetCommon(0x1C, 2, 1);
        }
        SetCommon(0x14, 1, 0x0F);
    }

    public Span<byte> Ram(uint address, int length) => Machine.Memory.Ram.AsSpan((int)address, length);

    /// <summary>Puts a chain of (address, length, writable) buffers in queue <paramref name="queue"/>'s table and makes it available.</summary>
    public ushort Offer(int queue, bool notify, params (uint Address, uint Length, bool Writable)[] buffers)
    {
        uint table = QueueBase(queue) + DescOffset;
        ushort head = (ushort)(_nextDesc[queue] % QueueSize);
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)(_nextDesc[queue] % QueueSize);
            bool last = i == buffers.Length - 1;
            var d = Ram(table + 16u * index, 16);
            BinaryPrimitives.WriteUInt64LittleEndian(d, buffers[i].Address);
            BinaryPrimitives.WriteUInt32LittleEndian(d[8..], buffers[i].Length);
            BinaryPrimitives.WriteUInt16LittleEndian(d[12..], (ushort)((buffers[i].Writable ? 2 : 0) | (last ? 0 : 1)));
            BinaryPrimitives.WriteUInt16LittleEndian(d[14..], (ushort)((index + 1) % QueueSize));
            _nextDesc[queue]++;
        }
        uint avail = QueueBase(queue) + AvailOffset;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram(avail + 4 + 2u * (uint)(_availIdx[queue] % QueueSize), 2), head);
        _availIdx[queue]++;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram(avail + 2, 2), _availIdx[queue]);
        if (notify) Notify(queue);
        return head;
    }

    /// <summary>Sets avail.idx directly (for rule breaking).</summary>
    public void SetAvailIdx(int queue, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Ram(QueueBase(queue) + AvailOffset + 2, 2), value);

    public void Notify(int queue) => Machine.Memory.Write(Bar + VirtioPciFunction.NotifyOffset + VirtioPciFunction.NotifyMultiplier * (uint)queue, 2, (uint)queue);

    public ushort UsedIdx(int queue) => BinaryPrimitives.ReadUInt16LittleEndian(Ram(QueueBase(queue) + UsedOffset + 2, 2));

    public (uint Id, uint Length) UsedElement(int queue, int i) =>
        (BinaryPrimitives.ReadUInt32LittleEndian(Ram(QueueBase(queue) + UsedOffset + 4 + 8u * (uint)(i % QueueSize), 4)),
         BinaryPrimitives.ReadUInt32LittleEndian(Ram(QueueBase(queue) + UsedOffset + 8 + 8u * (uint)(i % QueueSize), 4)));

    /// <summary>Posts one receive buffer of <paramref name="length"/> bytes at slot <paramref name="slot"/> of the receive area.</summary>
    public ushort PostReceive(uint length, int slot = 0, bool notify = true) =>
        Offer(VirtioNet.ReceiveQueue, notify, (RxData + 0x2000u * (uint)slot, length, true));

    /// <summary>An Ethernet frame of <paramref name="length"/> bytes: broadcast destination, the given source, a pattern after.</summary>
    public static byte[] Frame(int length, byte seed = 1)
    {
        var f = new byte[length];
        for (int i = 0; i < length; i++) f[i] = (byte)(seed + i * 7);
        return f;
    }
}
