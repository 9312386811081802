namespace VmFt.Guest.Devices.Virtio;

/// <summary>
/// A virtio-blk request the guest issued and the host has to perform. <see cref="Id"/> numbers the
/// device's requests from 1 in the order the guest made them available; the data of a write was
/// taken from guest memory when the guest notified the device, so the host and a backup that
/// replays the notification see the same bytes.
/// </summary>
public sealed class DiskRequest
{
    internal DiskRequest(ulong id, int queue, ushort head, DiskRequestKind kind, ulong sector, uint length,
        byte[]? writeData, VirtqueueBuffer[] readBuffers, ulong statusAddress)
    {
        Id = id;
        Queue = queue;
        Head = head;
        Kind = kind;
        Sector = sector;
        Length = length;
        WriteData = writeData;
        ReadBuffers = readBuffers;
        StatusAddress = statusAddress;
    }

    public ulong Id { get; }
    public DiskRequestKind Kind { get; }
    /// <summary>First 512-byte sector (reads and writes).</summary>
    public ulong Sector { get; }
    /// <summary>Bytes to read or write (a multiple of 512; 0 for a flush).</summary>
    public uint Length { get; }
    /// <summary>The bytes to write (writes only).</summary>
    public byte[]? WriteData { get; }

    internal int Queue { get; }
    internal ushort Head { get; }
    internal VirtqueueBuffer[] ReadBuffers { get; }
    internal ulong StatusAddress { get; }

    internal void Save(BinaryWriter w)
    {
        w.Write(Id);
        w.Write((byte)Queue);
        w.Write(Head);
        w.Write((byte)Kind);
        w.Write(Sector);
        w.Write(Length);
        w.Write(WriteData is not null);
        if (WriteData is not null) w.Write(WriteData);
        w.Write((ushort)ReadBuffers.Length);
        foreach (var b in ReadBuffers)
        {
            w.Write(b.Address);
            w.Write(b.Length);
        }
        w.Write(StatusAddress);
    }

    internal static DiskRequest Load(BinaryReader r, uint maxLength)
    {
        ulong id = r.ReadUInt64();
        int queue = r.ReadByte();
        ushort head = r.ReadUInt16();
        byte kind = r.ReadByte();
        if (kind is not ((byte)DiskRequestKind.Read or (byte)DiskRequestKind.Write or (byte)DiskRequestKind.Flush))
            throw new InvalidDataException($"pending request {id} has kind {kind}");
        ulong sector = r.ReadUInt64();
        uint length = r.ReadUInt32();
        if (length > maxLength) throw new InvalidDataException($"pending request {id} of {length} bytes exceeds {maxLength}");
        byte[]? data = r.ReadBoolean() ? r.ReadBytes((int)length) : null;
        if (data is not null && data.Length != length) throw new EndOfStreamException();
        var buffers = new VirtqueueBuffer[r.ReadUInt16()];
        for (int i = 0; i < buffers.Length; i++) buffers[i] = new VirtqueueBuffer(r.ReadUInt64(), r.ReadUInt32(), true);
        return new DiskRequest(id, queue, head, (DiskRequestKind)kind, sector, length, data, buffers, r.ReadUInt64());
    }
}
