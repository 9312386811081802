namespace VmFt.Guest.Machine;

/// <summary>
/// The machine's virtio-net card as the guest sees it: its MAC address, the 48 bits in
/// <see cref="Mac"/> (the first byte on the wire in bits 40-47). What the card sends and receives
/// is not part of the machine: received frames arrive as events, sent ones are output.
/// </summary>
public sealed record NetworkConfiguration(ulong Mac)
{
    /// <summary>A locally administered unicast address (52:54:00:12:34:56, QEMU's default) for a machine given none.</summary>
    public const ulong DefaultMac = 0x52_54_00_12_34_56;

    public static NetworkConfiguration Default { get; } = new(DefaultMac);

    /// <summary>The address as its six bytes, in wire order.</summary>
    public byte[] MacBytes()
    {
        var bytes = new byte[6];
        for (int i = 0; i < 6; i++) bytes[i] = (byte)(Mac >> (8 * (5 - i)));
        return bytes;
    }

    public static NetworkConfiguration FromBytes(ReadOnlySpan<byte> mac)
    {
        if (mac.Length != 6) throw new ArgumentException("a MAC address is 6 bytes", nameof(mac));
        ulong value = 0;
        foreach (byte b in mac) value = value << 8 | b;
        return new NetworkConfiguration(value);
    }

    public override string ToString() => string.Join(':', MacBytes().Select(b => b.ToString("x2")));
}
