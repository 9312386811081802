using VmFt.Guest.Io;

namespace VmFt.Guest.Devices.Pci;

/// <summary>
/// PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, 3.2.2.3.2) and bus 0 behind
/// it. CONFIG_ADDRESS at 0xCF8 is a dword register (enable bit 31, bus 23:16, device 15:11,
/// function 10:8, register 7:2; the reserved bits read as zero); CONFIG_DATA at 0xCFC-0xCFF
/// reaches the addressed function's configuration space at the register plus the port's low two
/// bits, in bytes, words or dwords. With the enable bit clear, on another bus, or at a slot with no
/// function, reads return all ones (master abort) and writes go nowhere. Byte and word accesses to
/// 0xCF8-0xCFB do not touch CONFIG_ADDRESS (0xCF9 is the PIIX3's reset control register).
/// Functions plug in at fixed slots, so enumeration is the same on every run.
/// </summary>
public sealed class PciHost : IPortDevice, IStatefulDevice
{
    public const ushort AddressPort = 0xCF8, DataPort = 0xCFC;
    private const uint AddressMask = 0x80FF_FFFC;

    private readonly PciFunction?[] _functions = new PciFunction?[256];   // by devfn on bus 0
    private readonly List<PciFunction> _attached = [];
    private uint _address;

    public uint Address => _address;

    /// <summary>Plugs <paramref name="function"/> in at 00:<paramref name="device"/>.<paramref name="functionNumber"/>.</summary>
    public void Attach(int device, int functionNumber, PciFunction function)
    {
        ArgumentNullException.ThrowIfNull(function);
        if (device is < 0 or > 31) throw new ArgumentOutOfRangeException(nameof(device));
        if (functionNumber is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(functionNumber));
        int devfn = device << 3 | functionNumber;
        if (_functions[devfn] is not null) throw new InvalidOperationException($"PCI slot 00:{device:X2}.{functionNumber} is taken");
        _functions[devfn] = function;
        _attached.Add(function);
    }

    /// <summary>The function at 00:<paramref name="device"/>.<paramref name="functionNumber"/>, or null.</summary>
    public PciFunction? FunctionAt(int device, int functionNumber) => _functions[device << 3 | functionNumber];

    public void Register(PortBus bus)
    {
        bus.Map(AddressPort, 1, this);
        bus.Map(0xCFA, 2, this);
        bus.Map(DataPort, 4, this);
    }

    public uint Read(ushort port, int size)
    {
        if (port == AddressPort && size == 4) return _address;
        if (port >= DataPort && Selected() is { } f)
        {
            int offset = (int)(_address & 0xFC) + (port - DataPort);
            return f.ReadConfig(offset, Math.Min(size, 4 - (port - DataPort)));
        }
        return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
    }

    public void Write(ushort port, int size, uint value)
    {
        if (port == AddressPort)
        {
            if (size == 4) _address = value & AddressMask;
            return;
        }
        if (port >= DataPort && Selected() is { } f)
            f.WriteConfig((int)(_address & 0xFC) + (port - DataPort), Math.Min(size, 4 - (port - DataPort)), value);
    }

    private PciFunction? Selected()
    {
        if ((_address & 0x8000_0000) == 0) return null;
        if (((_address >> 16) & 0xFF) != 0) return null;   // only bus 0 exists (no PCI-to-PCI bridges)
        return _functions[(_address >> 8) & 0xFF];
    }

    // Version 2: the functions' configuration spaces after the address (version 1 had no functions).
    public byte StateVersion => 2;

    public void SaveState(BinaryWriter w)
    {
        w.Write(_address);
        foreach (var f in _attached) f.SaveState(w);
    }

    public void LoadState(BinaryReader r)
    {
        _address = r.ReadUInt32();
        foreach (var f in _attached) f.LoadState(r);
    }
}
