using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// The PS/2 system control port A at 0x92 ("fast A20 and reset"): bit 1 gates address line 20,
/// a 0-to-1 transition of bit 0 resets the processor. Reads return the bits as last written.
/// </summary>
public sealed class SystemControlPortA : IPortDevice, IStatefulDevice
{
    public const ushort Port = 0x92;

    private readonly Action<bool> _a20;
    private readonly Action _reset;
    private byte _value;

    public SystemControlPortA(Action<bool> a20, Action reset, bool a20Enabled = false)
    {
        _a20 = a20;
        _reset = reset;
        _value = a20Enabled ? (byte)0x02 : (byte)0;
    }

    public bool A20Enabled => (_value & 0x02) != 0;

    public void Register(PortBus bus) => bus.Map(Port, 1, this);

    public uint Read(ushort port, int size) => _value;

    public void Write(ushort port, int size, uint value)
    {
        byte old = _value;
        _value = (byte)value;
        if (((old ^ _value) & 0x02) != 0)
            _a20((_value & 0x02) != 0);
        if ((old & 0x01) == 0 && (_value & 0x01) != 0)
            _reset();
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w) => w.Write(_value);

    public void LoadState(BinaryReader r) => _value = r.ReadByte();
}
