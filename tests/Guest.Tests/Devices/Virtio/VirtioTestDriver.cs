using System.Buffers.Binary;
using VmFt.Guest.Devices.Virtio;
using VmFt.Guest.Machine;

namespace VmFt.Guest.Tests.Devices.Virtio;

/// <summary>
/// A minimal virtio-pci driver written from the specification, for the device tests: it reaches
/// the configuration space through ports 0xCF8/0xCFC and BAR 0 through physical memory, as a guest
/// does, and lays out one queue at fixed RAM addresses.
/// </summary>
internal sealed class VirtioTestDriver
{
    public const uint Desc = 0x10000, Avail = 0x11000, Used = 0x12000, Indirect = 0x13000, Data = 0x20000;
    public const ushort QueueSize = 16;
    public readonly PcMachine Machine;
    private ushort _availIdx;
    private ushort _nextDesc;

    public VirtioTestDriver(ulong sectors = 2048, bool readOnly = false, uint ram = 4u << 20)
    {
        Machine = new PcMachine(new MachineConfiguration { RamSize = ram, Disk = new DiskConfiguration(sectors, readOnly) });
    }

    public VirtioBlock Device => Machine.Disk!;
    public uint Bar => PcMachine.DiskBarAddress;

    public uint ReadConfig(int register, int size = 4, int slot = PcMachine.DiskSlot)
    {
        Machine.Ports.Write(0xCF8, 4, 0x8000_0000u | (uint)slot << 11 | (uint)(register & 0xFC));
        return Machine.Ports.Read((ushort)(0xCFC + (register & 3)), size);
    }

    public void WriteConfig(int register, int size, uint value)
    {
        Machine.Ports.Write(0xCF8, 4, 0x8000_0000u | (uint)PcMachine.DiskSlot << 11 | (uint)(register & 0xFC));
        Machine.Ports.Write((ushort)(0xCFC + (register & 3)), size, value);
    }

    public uint Common(uint offset, int size) => Machine.Memory.Read(Bar + offset, size);
    public void SetCommon(uint offset, int size, uint value) => Machine.Memory.Write(Bar + offset, size, value);
    public byte Status => (byte)Common(0x14, 1);

    /// <summary>Enables decode and bus mastering, negotiates <paramref name="features"/> and sets up queue 0; DRIVER_OK unless told not to.</summary>
    public bool Initialize(ulong features, bool driverOk = true)
    {
        WriteConfig(0x04, 2, 0x0006);
        SetCommon(0x14, 1, 0);
        SetCommon(0x14, 1, 1);
        SetCommon(0x14, 1, 3);
        SetCommon(0x08, 4, 0);
        SetCommon(0x0C, 4, (uint)features);
        SetCommon(0x08, 4, 1);
        SetCommon(0x0C, 4, (uint)(features >> 32));
        SetCommon(0x14, 1, 0x0B);
        if ((Status & 0x08) == 0) return false;
        SetCommon(0x16, 2, 0);
        SetCommon(0x18, 2, QueueSize);
        SetCommon(0x20, 4, Desc);
        SetCommon(0x24, 4, 0);
        SetCommon(0x28, 4, Avail);
        SetCommon(0x2C, 4, 0);
        SetCommon(0x30, 4, Used);
        SetCommon(0x34, 4, 0);
        SetCommon(0x1C, 2, 1);
        if (driverOk) SetCommon(0x14, 1, 0x0F);
        return true;
    }

    public const ulong Version1 = 1UL << 32, EventIndex = 1UL << 29, IndirectDesc = 1UL << 28;

    public Span<byte> Ram(uint address, int length) => Machine.Memory.Ram.AsSpan((int)address, length);

    public void WriteDescriptor(uint table, int index, ulong address, uint length, ushort flags, ushort next)
    {
        var d = Ram(table + 16u * (uint)index, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, address);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], length);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>Puts a chain of (address, length, writable) buffers in the descriptor table; returns its head.</summary>
    public ushort Chain(params (ulong Address, uint Length, bool Writable)[] buffers)
    {
        ushort head = _nextDesc;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)(_nextDesc % QueueSize);
            bool last = i == buffers.Length - 1;
            WriteDescriptor(Desc, index, buffers[i].Address, buffers[i].Length,
                (ushort)((buffers[i].Writable ? 2 : 0) | (last ? 0 : 1)), (ushort)((index + 1) % QueueSize));
            _nextDesc++;
        }
        return (ushort)(head % QueueSize);
    }

    public void Offer(ushort head, bool notify = true)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Ram(Avail + 4 + 2u * (uint)(_availIdx % QueueSize), 2), head);
        _availIdx++;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram(Avail + 2, 2), _availIdx);
        if (notify) Notify();
    }

    public void Notify() => Machine.Memory.Write(Bar + VirtioPciFunction.NotifyOffset, 2, 0);

    public ushort UsedIdx => BinaryPrimitives.ReadUInt16LittleEndian(Ram(Used + 2, 2));
    public (uint Id, uint Length) UsedElement(int i) =>
        (BinaryPrimitives.ReadUInt32LittleEndian(Ram(Used + 4 + 8u * (uint)i, 4)), BinaryPrimitives.ReadUInt32LittleEndian(Ram(Used + 8 + 8u * (uint)i, 4)));

    /// <summary>A request header (type, sector) at <paramref name="at"/>.</summary>
    public void Header(uint at, uint type, ulong sector)
    {
        var h = Ram(at, 16);
        h.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
    }
}
