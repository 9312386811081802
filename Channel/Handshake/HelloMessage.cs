using System.Buffers.Binary;

namespace VmFt.Channel.Handshake;

/// <summary>
/// Body of a Hello frame, little-endian: <c>magic:u64 version:u16 role:u8 vmId:16 machine:u64 nonce:32</c>
/// (67 bytes). Magic and version come first so that any future version can still be recognised and
/// refused cleanly. <c>machine</c> names the machine a node started from (its state hash after the
/// image, initrd and command line were loaded): a backup replaying the log of another kernel would
/// diverge at once, so the two must agree before any log moves.
/// </summary>
public readonly struct HelloMessage
{
    public const int NonceLength = 32;
    public const int Length = 8 + 2 + 1 + 16 + 8 + NonceLength;

    public HelloMessage(ulong magic, ushort version, ChannelRole role, Guid vmId, ulong machine, ReadOnlyMemory<byte> nonce)
    {
        if (nonce.Length != NonceLength)
            throw new ArgumentException($"nonce must be {NonceLength} bytes", nameof(nonce));
        Magic = magic;
        Version = version;
        Role = role;
        VmId = vmId;
        Machine = machine;
        Nonce = nonce;
    }

    public ulong Magic { get; }

    public ushort Version { get; }

    public ChannelRole Role { get; }

    public Guid VmId { get; }

    public ulong Machine { get; }

    public ReadOnlyMemory<byte> Nonce { get; }

    public byte[] ToBytes()
    {
        var bytes = new byte[Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), Version);
        bytes[10] = (byte)Role;
        VmId.TryWriteBytes(bytes.AsSpan(11, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(27), Machine);
        Nonce.Span.CopyTo(bytes.AsSpan(35));
        return bytes;
    }

    /// <summary>
    /// Decodes a Hello body, checking the magic, then the version, then the length, so that the
    /// refusal names the most basic thing that is wrong.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out HelloMessage hello, out ChannelCloseCode code, out string reason)
    {
        hello = default;
        if (body.Length < 8)
            return Fail(ChannelCloseCode.MalformedHandshake, $"Hello of {body.Length} bytes is too short to hold the magic", out code, out reason);
        ulong magic = BinaryPrimitives.ReadUInt64LittleEndian(body);
        if (magic != ChannelProtocol.Magic)
            return Fail(ChannelCloseCode.BadMagic, $"wrong magic 0x{magic:X16}, expected 0x{ChannelProtocol.Magic:X16}", out code, out reason);
        if (body.Length < 10)
            return Fail(ChannelCloseCode.MalformedHandshake, $"Hello of {body.Length} bytes is too short to hold the version", out code, out reason);
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(body[8..]);
        if (version != ChannelProtocol.Version)
            return Fail(ChannelCloseCode.UnsupportedVersion, $"protocol version {version} is not supported (this node speaks {ChannelProtocol.Version})", out code, out reason);
        if (body.Length != Length)
            return Fail(ChannelCloseCode.MalformedHandshake, $"Hello of {body.Length} bytes, expected {Length}", out code, out reason);
        var role = (ChannelRole)body[10];
        if (role is not (ChannelRole.Primary or ChannelRole.Backup))
            return Fail(ChannelCloseCode.WrongRole, $"unknown role {body[10]}", out code, out reason);
        hello = new HelloMessage(magic, version, role, new Guid(body.Slice(11, 16)), BinaryPrimitives.ReadUInt64LittleEndian(body[27..]),
            body.Slice(35, NonceLength).ToArray());
        code = ChannelCloseCode.Unspecified;
        reason = "";
        return true;
    }

    private static bool Fail(ChannelCloseCode c, string r, out ChannelCloseCode code, out string reason)
    {
        code = c;
        reason = r;
        return false;
    }
}
