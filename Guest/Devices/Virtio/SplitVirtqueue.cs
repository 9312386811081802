namespace VmFt.Guest.Devices.Virtio;

/// <summary>
/// One split virtqueue (virtio 1.1, 2.6): the descriptor table, the driver's available ring and
/// the device's used ring in guest memory, and the device's own indices. Chains are walked with
/// every rule a driver can break checked (<see cref="VirtioError"/>): indices past the table, a
/// chain longer than the table (a loop), indirect tables (2.6.5.3) that are empty, unaligned,
/// nested or combined with NEXT, readable buffers after writable ones, ranges outside RAM. With
/// VIRTIO_F_EVENT_IDX the device publishes avail_event and honours used_event (2.6.7, 2.6.8).
/// </summary>
public sealed class SplitVirtqueue
{
    public const ushort DescriptorNext = 1, DescriptorWrite = 2, DescriptorIndirect = 4;
    public const ushort AvailNoInterrupt = 1;
    private const int DescriptorSize = 16;
    /// <summary>Most descriptors one indirect table may hold (Linux uses at most its segment count plus two).</summary>
    public const int MaxIndirectDescriptors = 1024;

    public SplitVirtqueue(ushort maxSize)
    {
        if (maxSize == 0 || (maxSize & (maxSize - 1)) != 0) throw new ArgumentException("a split queue's size is a power of two", nameof(maxSize));
        MaxSize = maxSize;
        Reset();
    }

    public ushort MaxSize { get; }
    public ushort Size { get; set; }
    public bool Enabled { get; set; }
    public ulong DescriptorTable { get; set; }
    public ulong AvailableRing { get; set; }
    public ulong UsedRing { get; set; }
    /// <summary>The next available-ring index the device will take.</summary>
    public ushort LastAvailable { get; private set; }
    /// <summary>The used-ring index the device will write next (its own copy: never read back from the guest).</summary>
    public ushort UsedIndex { get; private set; }

    public void Reset()
    {
        Size = MaxSize;
        Enabled = false;
        DescriptorTable = AvailableRing = UsedRing = 0;
        LastAvailable = UsedIndex = 0;
    }

    /// <summary>Checks the rings when the driver enables the queue (2.6: sizes and alignments).</summary>
    internal void Validate(GuestRam ram)
    {
        if (Size == 0 || Size > MaxSize || (Size & (Size - 1)) != 0) throw new VirtioError($"queue size {Size} is not a power of two up to {MaxSize}");
        if (DescriptorTable % 16 != 0 || AvailableRing % 2 != 0 || UsedRing % 4 != 0) throw new VirtioError("a ring is not aligned");
        ram.Check(DescriptorTable, (ulong)DescriptorSize * Size, "the descriptor table");
        ram.Check(AvailableRing, 6 + 2UL * Size, "the available ring");
        ram.Check(UsedRing, 6 + 8UL * Size, "the used ring");
    }

    /// <summary>
    /// Takes the next chain the driver made available into <paramref name="buffers"/> (cleared first);
    /// false when the available ring holds no more.
    /// </summary>
    internal bool TryPop(GuestRam ram, List<VirtqueueBuffer> buffers, out ushort head)
    {
        head = 0;
        if (!Enabled) return false;
        ushort availIdx = ram.ReadU16(AvailableRing + 2, "avail.idx");
        ushort waiting = (ushort)(availIdx - LastAvailable);
        if (waiting == 0) return false;
        if (waiting > Size) throw new VirtioError($"avail.idx {availIdx} is {waiting} entries ahead of the device, more than the queue's {Size}");
        head = ram.ReadU16(AvailableRing + 4 + 2UL * (uint)(LastAvailable % Size), "avail.ring");
        LastAvailable++;
        ReadChain(ram, head, buffers);
        return true;
    }

    /// <summary>Whether the driver has made a chain available that the device has not taken (reads only avail.idx).</summary>
    internal bool HasAvailable(GuestRam ram) => Enabled && ram.ReadU16(AvailableRing + 2, "avail.idx") != LastAvailable;

    /// <summary>Puts back the chain the last <see cref="TryPop"/> took, unused: the next pop takes it again.</summary>
    internal void Unpop() => LastAvailable--;

    /// <summary>Tells the driver (event index) which available index should make it notify next.</summary>
    internal void PublishAvailEvent(GuestRam ram, bool eventIndex)
    {
        if (eventIndex && Enabled) ram.WriteU16(UsedRing + 4 + 8UL * Size, LastAvailable, "used.avail_event");
    }

    private void ReadChain(GuestRam ram, ushort head, List<VirtqueueBuffer> buffers)
    {
        buffers.Clear();
        if (head >= Size) throw new VirtioError($"chain head {head} is past the queue's {Size} descriptors");
        ulong table = DescriptorTable;
        uint count = Size;
        uint index = head;
        bool indirect = false;
        bool sawWritable = false;
        for (uint steps = 0; ; steps++)
        {
            if (steps >= count) throw new VirtioError($"descriptor chain from {head} is longer than its table of {count}: a loop");
            ulong at = table + DescriptorSize * (ulong)index;
            ulong address = ram.ReadU64(at, "a descriptor");
            uint length = ram.ReadU32(at + 8, "a descriptor");
            ushort flags = ram.ReadU16(at + 12, "a descriptor");
            ushort next = ram.ReadU16(at + 14, "a descriptor");
            if ((flags & DescriptorIndirect) != 0)
            {
                if (indirect) throw new VirtioError("an indirect descriptor inside an indirect table");
                if ((flags & DescriptorNext) != 0) throw new VirtioError("a descriptor with both INDIRECT and NEXT");
                if (length == 0 || length % DescriptorSize != 0 || length / DescriptorSize > MaxIndirectDescriptors)
                    throw new VirtioError($"an indirect table of {length} bytes (a multiple of 16, at most {MaxIndirectDescriptors} descriptors)");
                if (address % 16 != 0) throw new VirtioError("an indirect table that is not 16-byte aligned");
                ram.Check(address, length, "an indirect table");
                indirect = true;
                table = address;
                count = length / DescriptorSize;
                index = 0;
                steps = uint.MaxValue;   // the indirect table's walk counts from its first entry
                continue;
            }
            bool writable = (flags & DescriptorWrite) != 0;
            if (!writable && sawWritable) throw new VirtioError("a device-readable buffer after a device-writable one");
            sawWritable |= writable;
            ram.Check(address, length, "a buffer");
            if (length != 0) buffers.Add(new VirtqueueBuffer(address, length, writable));
            if ((flags & DescriptorNext) == 0) return;
            if (next >= count) throw new VirtioError($"descriptor {index} points to {next}, past its table of {count}");
            index = next;
        }
    }

    /// <summary>Returns chain <paramref name="head"/> to the driver with <paramref name="written"/> bytes written; true when the driver wants an interrupt for it.</summary>
    internal bool PushUsed(GuestRam ram, ushort head, uint written, bool eventIndex)
    {
        ushort old = UsedIndex;
        ulong element = UsedRing + 4 + 8UL * (uint)(old % Size);
        ram.WriteU32(element, head, "used.ring");
        ram.WriteU32(element + 4, written, "used.ring");
        UsedIndex = (ushort)(old + 1);
        ram.WriteU16(UsedRing + 2, UsedIndex, "used.idx");
        if (eventIndex)
        {
            ushort usedEvent = ram.ReadU16(AvailableRing + 4 + 2UL * Size, "avail.used_event");
            return (ushort)(UsedIndex - usedEvent - 1) < (ushort)(UsedIndex - old);
        }
        return (ram.ReadU16(AvailableRing, "avail.flags") & AvailNoInterrupt) == 0;
    }

    internal void SaveState(BinaryWriter w)
    {
        w.Write(Size);
        w.Write(Enabled);
        w.Write(DescriptorTable);
        w.Write(AvailableRing);
        w.Write(UsedRing);
        w.Write(LastAvailable);
        w.Write(UsedIndex);
    }

    internal void LoadState(BinaryReader r)
    {
        Size = r.ReadUInt16();
        Enabled = r.ReadBoolean();
        DescriptorTable = r.ReadUInt64();
        AvailableRing = r.ReadUInt64();
        UsedRing = r.ReadUInt64();
        LastAvailable = r.ReadUInt16();
        UsedIndex = r.ReadUInt16();
        if (Size > MaxSize) throw new InvalidDataException($"queue size {Size} exceeds the maximum {MaxSize}");
    }
}
