using System.Text;
using VmFt.Guest.Machine;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Devices.Virtio;

/// <summary>
/// virtio-blk (virtio 1.1, 5.2) on <see cref="VirtioPciFunction"/>: one request queue of 128
/// entries; features SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH and, for a read-only disk, RO. A request
/// is a 16-byte header (type, reserved, sector), data, and a status byte, framed in any way across
/// the chain's buffers. GET_ID and anything malformed or out of range complete at once (the answer
/// depends on guest state only); reads, writes and flushes become <see cref="Pending"/> requests
/// that the host performs and completes through <see cref="Complete"/>, at a position the log
/// records. Writes to a read-only disk complete with IOERR.
/// </summary>
public sealed class VirtioBlock : VirtioPciFunction
{
    public const ushort DeviceType = 2;
    public const ushort QueueSize = 128;
    public const int FeatureSizeMax = 1, FeatureSegMax = 2, FeatureReadOnly = 5, FeatureBlockSize = 6, FeatureFlush = 9;
    public const uint TypeIn = 0, TypeOut = 1, TypeFlush = 4, TypeGetId = 8;
    public const byte StatusOk = 0, StatusIoError = 1, StatusUnsupported = 2;
    public const uint SegmentMax = 62, SizeMax = 4096;
    /// <summary>Largest read or write: what Linux can send with these segment limits, and what one log event carries.</summary>
    public const uint MaxRequestBytes = 256 * 1024;
    public const int IdLength = 20;
    private const int HeaderLength = 16;

    private readonly DiskConfiguration _disk;
    private readonly List<DiskRequest> _pending = [];
    private ulong _nextId = 1;

    public VirtioBlock(PhysicalMemory memory, Action<bool> interrupt, DiskConfiguration disk)
        : base(memory, interrupt, DeviceType, 0x01_80_00, queueCount: 1, QueueSize)
    {
        _disk = disk;
        State = new StateAdapter(this);
    }

    public DiskConfiguration Disk => _disk;

    /// <summary>The disk's answer to GET_ID (a serial number, NUL-padded to 20 bytes).</summary>
    public static ReadOnlySpan<byte> Serial => "vmft-disk-0"u8;

    /// <summary>Requests the guest issued that have not completed, oldest first.</summary>
    public IReadOnlyList<DiskRequest> Pending => _pending;

    /// <summary>
    /// Each read, write or flush as the guest issues it, for observers outside the machine (the
    /// simulator checks every write that reaches a disk against the writes the guest issued).
    /// Nothing in the machine depends on it.
    /// </summary>
    public event Action<DiskRequest>? Issued;

    /// <summary>
    /// Each request as it completes, with its status, for observers outside the machine (an FT
    /// backup with a disk of its own performs on it the writes its replay completes). Nothing in
    /// the machine depends on it.
    /// </summary>
    public event Action<DiskRequest, byte>? Completing;

    /// <summary>The id the next request will get: ids only grow, across device resets too.</summary>
    public ulong NextRequestId => _nextId;

    /// <summary>The device's own state (not the configuration space) under the machine's tag for it.</summary>
    public IStatefulDevice State { get; }

    protected override ulong OfferedFeatures =>
        1UL << FeatureSizeMax | 1UL << FeatureSegMax | 1UL << FeatureBlockSize | 1UL << FeatureFlush
        | (_disk.ReadOnly ? 1UL << FeatureReadOnly : 0);

    protected override void ReadDeviceConfig(Span<byte> config)
    {
        Put64(config, 0, _disk.SectorCount);
        Put32(config, 8, SizeMax);
        Put32(config, 12, SegmentMax);
        Put32(config, 20, DiskConfiguration.SectorSize);
    }

    protected override void DeviceReset() => _pending.Clear();

    private void Issue(DiskRequest request)
    {
        _pending.Add(request);
        Issued?.Invoke(request);
    }

    protected override void QueueNotified(int index)
    {
        Span<byte> header = stackalloc byte[HeaderLength];
        while (TryPopChain(index, out ushort head, out var buffers))
        {
            if (_pending.Count >= QueueSize) throw new VirtioError($"more than {QueueSize} requests in flight on a queue of {QueueSize}");
            Accept(index, head, buffers, header);
        }
    }

    private void Accept(int queue, ushort head, IReadOnlyList<VirtqueueBuffer> buffers, Span<byte> header)
    {
        ulong readable = 0, writable = 0;
        foreach (var b in buffers)
            if (b.DeviceWritable) writable += b.Length; else readable += b.Length;
        if (writable == 0)
        {
            // Nowhere to put a status: give the chain back untouched.
            CompleteChain(queue, head, 0);
            return;
        }
        ulong statusAddress = StatusAddressOf(buffers);
        if (readable < HeaderLength)
        {
            Finish(queue, head, statusAddress, StatusIoError, 1);
            return;
        }
        Gather(buffers, 0, header);
        uint type = BitConverter.ToUInt32(header[..4]);
        ulong sector = BitConverter.ToUInt64(header[8..]);
        switch (type)
        {
            case TypeIn:
            {
                ulong length = writable - 1;
                if (!InRange(sector, length)) { Finish(queue, head, statusAddress, StatusIoError, 1); return; }
                if (length == 0) { Finish(queue, head, statusAddress, StatusOk, 1); return; }
                var data = DataBuffers(buffers, length);
                Issue(new DiskRequest(_nextId++, queue, head, DiskRequestKind.Read, sector, (uint)length, null, data, statusAddress));
                return;
            }
            case TypeOut:
            {
                ulong length = readable - HeaderLength;
                if (_disk.ReadOnly || !InRange(sector, length)) { Finish(queue, head, statusAddress, StatusIoError, 1); return; }
                if (length == 0) { Finish(queue, head, statusAddress, StatusOk, 1); return; }
                var data = new byte[length];
                Gather(buffers, HeaderLength, data);
                Issue(new DiskRequest(_nextId++, queue, head, DiskRequestKind.Write, sector, (uint)length, data, [], statusAddress));
                return;
            }
            case TypeFlush:
                Issue(new DiskRequest(_nextId++, queue, head, DiskRequestKind.Flush, 0, 0, null, [], statusAddress));
                return;
            case TypeGetId:
            {
                var id = new byte[IdLength];
                Serial.CopyTo(id);
                uint n = (uint)Math.Min((ulong)IdLength, writable - 1);
                Scatter(buffers, id.AsSpan(0, (int)n));
                Finish(queue, head, statusAddress, StatusOk, n + 1);
                return;
            }
            default:
                Finish(queue, head, statusAddress, StatusUnsupported, 1);
                return;
        }
    }

    private bool InRange(ulong sector, ulong length) =>
        length % DiskConfiguration.SectorSize == 0 && length <= MaxRequestBytes
        && sector <= _disk.SectorCount && length / DiskConfiguration.SectorSize <= _disk.SectorCount - sector;

    private static ulong StatusAddressOf(IReadOnlyList<VirtqueueBuffer> buffers)
    {
        var last = buffers[^1];   // writable buffers come last, and there is at least one
        return last.Address + last.Length - 1;
    }

    /// <summary>The writable buffers without the status byte at the end.</summary>
    private static VirtqueueBuffer[] DataBuffers(IReadOnlyList<VirtqueueBuffer> buffers, ulong length)
    {
        var data = new List<VirtqueueBuffer>();
        ulong left = length;
        foreach (var b in buffers)
        {
            if (!b.DeviceWritable || left == 0) continue;
            uint take = (uint)Math.Min(b.Length, left);
            data.Add(b with { Length = take });
            left -= take;
        }
        return [.. data];
    }

    /// <summary>Copies the readable bytes from offset <paramref name="skip"/> into <paramref name="into"/>.</summary>
    private void Gather(IReadOnlyList<VirtqueueBuffer> buffers, ulong skip, Span<byte> into)
    {
        var ram = Ram;
        int at = 0;
        foreach (var b in buffers)
        {
            if (b.DeviceWritable || at == into.Length) break;
            if (skip >= b.Length) { skip -= b.Length; continue; }
            int n = (int)Math.Min(b.Length - skip, (ulong)(into.Length - at));
            ram.Span(b.Address + skip, n, "a buffer").CopyTo(into[at..]);
            at += n;
            skip = 0;
        }
    }

    private void Scatter(IReadOnlyList<VirtqueueBuffer> buffers, ReadOnlySpan<byte> data)
    {
        var ram = Ram;
        foreach (var b in buffers)
        {
            if (!b.DeviceWritable) continue;
            if (data.IsEmpty) return;
            int n = (int)Math.Min(b.Length, (uint)data.Length);
            ram.Write(b.Address, data[..n], "a buffer");
            data = data[n..];
        }
    }

    private void Finish(int queue, ushort head, ulong statusAddress, byte status, uint written)
    {
        Ram.Write(statusAddress, [status], "the status byte");
        CompleteChain(queue, head, written);
    }

    /// <summary>
    /// The host performed request <paramref name="id"/>: for a successful read,
    /// <paramref name="data"/> holds exactly its bytes. Writes the data and the status into guest
    /// memory, returns the chain and interrupts if the driver wants it.
    /// </summary>
    public DiskCompletionResult Complete(ulong id, byte status, ReadOnlySpan<byte> data)
    {
        int index = _pending.FindIndex(r => r.Id == id);
        if (index < 0) return DiskCompletionResult.NotPending;
        var request = _pending[index];
        bool withData = request.Kind == DiskRequestKind.Read && status == StatusOk;
        if (withData ? data.Length != request.Length : data.Length != 0) return DiskCompletionResult.WrongLength;
        _pending.RemoveAt(index);
        Completing?.Invoke(request, status);
        if (withData) Scatter(request.ReadBuffers, data);
        Finish(request.Queue, request.Head, request.StatusAddress, status, (withData ? request.Length : 0) + 1);
        return DiskCompletionResult.Completed;
    }

    private sealed class StateAdapter(VirtioBlock device) : IStatefulDevice
    {
        public byte StateVersion => 1;

        public void SaveState(BinaryWriter w)
        {
            device.SaveTransport(w);
            w.Write(device._nextId);
            w.Write((ushort)device._pending.Count);
            foreach (var r in device._pending) r.Save(w);
        }

        public void LoadState(BinaryReader r)
        {
            device.LoadTransport(r);
            device._nextId = r.ReadUInt64();
            device._pending.Clear();
            int count = r.ReadUInt16();
            if (count > QueueSize) throw new InvalidDataException($"{count} pending requests on a queue of {QueueSize}");
            for (int i = 0; i < count; i++) device._pending.Add(DiskRequest.Load(r, MaxRequestBytes));
        }
    }
}
