using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// The Bochs/QEMU debug console at port 0xE9: each byte written goes to the sink; a read returns
/// 0xE9, which is how guests detect that the port is there.
/// </summary>
public sealed class DebugConsole : IPortDevice
{
    public const ushort Port = 0xE9;

    private readonly Action<byte> _sink;

    public DebugConsole(Action<byte> sink) => _sink = sink;

    public void Register(PortBus bus) => bus.Map(Port, 1, this);

    public uint Read(ushort port, int size) => 0xE9;

    public void Write(ushort port, int size, uint value) => _sink((byte)value);

}
