using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// The POST diagnostic port 0x80. Firmware writes progress codes there and operating systems use
/// writes to it as a short I/O delay, so it must accept writes; reads return the last code, as on
/// boards with a POST latch. Codes can be forwarded to an optional tracing callback.
/// </summary>
public sealed class PostCodePort : IPortDevice, IStatefulDevice
{
    public const ushort Port = 0x80;

    private readonly Action<byte>? _trace;
    private byte _last;

    public PostCodePort(Action<byte>? trace = null) => _trace = trace;

    public byte LastCode => _last;

    public void Register(PortBus bus) => bus.Map(Port, 1, this);

    public uint Read(ushort port, int size) => _last;

    public void Write(ushort port, int size, uint value)
    {
        _last = (byte)value;
        _trace?.Invoke(_last);
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w) => w.Write(_last);

    public void LoadState(BinaryReader r) => _last = r.ReadByte();
}
