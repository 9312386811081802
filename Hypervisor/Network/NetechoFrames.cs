using System.Buffers.Binary;
using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.Network;

/// <summary>
/// The frames a client exchanges with the bundled <c>netecho</c> guest: a request to the card's
/// default MAC with a local experimental EtherType (0x88B5, IEEE 802 local use) and its number at
/// bytes 18-21; the guest answers each with the addresses swapped and, at bytes 14-17, how many
/// frames it had received before it (both little-endian, as the guest writes them).
/// </summary>
public static class NetechoFrames
{
    public const ushort EtherType = 0x88B5;
    /// <summary>The minimum Ethernet frame without its checksum: what each request is padded to.</summary>
    public const int Length = 60;
    /// <summary>The client's MAC address, locally administered.</summary>
    public static ReadOnlySpan<byte> ClientMac => [0x02, 0, 0, 0, 0, 1];

    /// <summary>Request <paramref name="seq"/>: its number and a payload that depends on it, so an answer can be matched to it byte for byte.</summary>
    public static byte[] Request(int seq)
    {
        var f = new byte[Length];
        BinaryPrimitives.WriteUInt64BigEndian(f.AsSpan(0, 8), NetworkConfiguration.DefaultMac << 16);
        ClientMac.CopyTo(f.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), EtherType);
        BinaryPrimitives.WriteInt32LittleEndian(f.AsSpan(18), seq);
        for (int i = 22; i < f.Length; i++) f[i] = (byte)(seq + i);
        return f;
    }

    /// <summary>Whether <paramref name="frame"/> is a netecho frame at all (its EtherType).</summary>
    public static bool IsNetecho(ReadOnlySpan<byte> frame) => frame.Length >= 22 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == EtherType;

    /// <summary>Whether <paramref name="frame"/> is a request from the client (its source address).</summary>
    public static bool IsRequest(ReadOnlySpan<byte> frame) => IsNetecho(frame) && frame.Slice(6, 6).SequenceEqual(ClientMac);

    /// <summary>
    /// Reads an answer: the request number it carries and the guest's count of frames received
    /// before it. False for a frame that is no answer to the client (wrong type or addresses), or
    /// whose bytes are not those of the request it names with the addresses swapped.
    /// </summary>
    public static bool TryReadAnswer(ReadOnlySpan<byte> frame, out int seq, out int count)
    {
        seq = count = -1;
        if (!IsNetecho(frame) || frame.Length != Length || !frame[..6].SequenceEqual(ClientMac)) return false;
        Span<byte> guest = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(guest, NetworkConfiguration.DefaultMac << 16);
        if (!frame.Slice(6, 6).SequenceEqual(guest[..6])) return false;
        seq = BinaryPrimitives.ReadInt32LittleEndian(frame[18..]);
        count = BinaryPrimitives.ReadInt32LittleEndian(frame[14..]);
        return seq >= 0 && frame[22..].SequenceEqual(Request(seq).AsSpan(22));
    }
}
