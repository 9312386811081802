namespace VmFt.Guest.Io;

/// <summary>
/// Maps each of the 65536 I/O ports to the device that owns it. Unclaimed ports read as all ones
/// and ignore writes, as on a PC with nothing decoding the address.
/// </summary>
public sealed class PortBus
{
    private readonly IPortDevice?[] _owners = new IPortDevice?[65536];

    /// <summary>Gives <paramref name="count"/> ports starting at <paramref name="first"/> to <paramref name="device"/>.</summary>
    public void Map(ushort first, int count, IPortDevice device)
    {
        for (int i = 0; i < count; i++)
        {
            int port = first + i;
            if (_owners[port] is { } existing && !ReferenceEquals(existing, device))
                throw new InvalidOperationException($"port 0x{port:X4} is already owned by {existing.GetType().Name}");
            _owners[port] = device;
        }
    }

    public IPortDevice? OwnerOf(ushort port) => _owners[port];

    public uint Read(ushort port, int size)
    {
        if (_owners[port] is { } device)
            return device.Read(port, size);
        return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
    }

    public void Write(ushort port, int size, uint value) => _owners[port]?.Write(port, size, value);
}
