namespace VmFt.Guest.Io;

/// <summary>
/// A device on the x86 I/O port bus. Accesses arrive with their width (1, 2 or 4 bytes) so that
/// devices with wide registers (PCI configuration, for instance) see them whole.
/// </summary>
public interface IPortDevice
{
    /// <summary>Reads <paramref name="size"/> bytes (1, 2 or 4) at <paramref name="port"/>.</summary>
    uint Read(ushort port, int size);

    /// <summary>Writes the low <paramref name="size"/> bytes (1, 2 or 4) of <paramref name="value"/> at <paramref name="port"/>.</summary>
    void Write(ushort port, int size, uint value);
}
