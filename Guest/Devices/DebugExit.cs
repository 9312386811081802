using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// QEMU's isa-debug-exit device at port 0xF4: writing value v ends the run with exit status
/// (v &lt;&lt; 1) | 1, so that a guest test can report success or failure to the host.
/// The value is the written width's worth of bits.
/// </summary>
public sealed class DebugExit : IPortDevice
{
    public const ushort Port = 0xF4;

    private readonly Action<int> _exit;

    public DebugExit(Action<int> exit) => _exit = exit;

    public void Register(PortBus bus) => bus.Map(Port, 1, this);

    public uint Read(ushort port, int size) => size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };

    public void Write(ushort port, int size, uint value)
    {
        uint v = size switch { 1 => value & 0xFF, 2 => value & 0xFFFF, _ => value };
        _exit(unchecked((int)((v << 1) | 1)));
    }

}
