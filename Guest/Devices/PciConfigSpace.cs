using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, 3.2.2.3.2) with no devices
/// behind it: CONFIG_ADDRESS at 0xCF8 is a dword register that reads back what was written, so
/// guests see that the mechanism exists; every CONFIG_DATA read (0xCFC-0xCFF) returns all ones,
/// which is what a bus with no device at the addressed function answers. Non-dword accesses to
/// 0xCF8-0xCFB do not reach the address register.
/// </summary>
public sealed class PciConfigSpace : IPortDevice, IStatefulDevice
{
    private uint _address;

    public uint Address => _address;

    public void Register(PortBus bus) => bus.Map(0xCF8, 8, this);

    public uint Read(ushort port, int size)
    {
        if (port == 0xCF8 && size == 4)
            return _address;
        return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
    }

    public void Write(ushort port, int size, uint value)
    {
        if (port == 0xCF8 && size == 4)
            _address = value;
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w) => w.Write(_address);

    public void LoadState(BinaryReader r) => _address = r.ReadUInt32();
}
