using System.Buffers.Binary;
using VmFt.Guest.Devices.Pci;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Devices.Virtio;

/// <summary>
/// A virtio device over PCI, the modern interface only (virtio 1.1, 4.1): vendor 1AF4, device
/// 1040 + the device type, revision 1, and four vendor-specific capabilities that place the common
/// configuration, notification, ISR and device configuration structures in memory BAR 0 (16 KiB:
/// one page each). Without MSI-X the device interrupts through INTA#, whose level is the ISR's
/// "used buffer" and "configuration change" bits (reading the ISR clears them). Queue
/// notifications are handled where they happen, in the MMIO write; completions the host provides
/// (<see cref="CompleteChain"/>) arrive at a position through the machine, so a run is the same
/// every time. A driver that breaks a ring rule makes the device set DEVICE_NEEDS_RESET and stop.
/// </summary>
public abstract class VirtioPciFunction : PciFunction, IMmioDevice
{
    public const ushort VendorVirtio = 0x1AF4;
    public const uint BarSize = 0x4000;
    public const uint CommonOffset = 0x0000, IsrOffset = 0x1000, DeviceOffset = 0x2000, NotifyOffset = 0x3000;
    public const uint NotifyMultiplier = 4;
    public const int CommonLength = 0x38;
    public const byte CapabilitiesPointer = 0x34, FirstCapability = 0x40;
    public const byte CapCommon = 1, CapNotify = 2, CapIsr = 3, CapDevice = 4;

    public const byte StatusAcknowledge = 1, StatusDriver = 2, StatusDriverOk = 4, StatusFeaturesOk = 8,
        StatusNeedsReset = 0x40, StatusFailed = 0x80;
    public const int FeatureIndirectDescriptors = 28, FeatureEventIndex = 29, FeatureVersion1 = 32;
    public const ushort NoVector = 0xFFFF;

    private readonly PhysicalMemory _memory;
    private readonly Action<bool> _interrupt;
    private readonly SplitVirtqueue[] _queues;
    private readonly List<VirtqueueBuffer> _chain = [];
    private uint _deviceFeatureSelect, _driverFeatureSelect;
    private ulong _driverFeatures;
    private byte _status, _configGeneration, _isr;
    private ushort _queueSelect;
    private bool _mapped, _line;
    private uint _mappedAt;
    private string? _error;

    protected VirtioPciFunction(PhysicalMemory memory, Action<bool> interrupt, ushort deviceType, uint classCode, int queueCount, ushort queueSize)
        : base(VendorVirtio, (ushort)(0x1040 + deviceType), 0x01, classCode, headerType: 0x00, interruptPin: 1)
    {
        _memory = memory;
        _interrupt = interrupt;
        _queues = new SplitVirtqueue[queueCount];
        for (int i = 0; i < queueCount; i++) _queues[i] = new SplitVirtqueue(queueSize);
        DefineRegister(CommandOffset, 2, 0x0000, CommandMemory | CommandBusMaster | CommandInterruptDisable);
        DefineRegister(StatusOffset, 2, 0x0010, 0x0000);   // capabilities list
        DefineRegister(SubsystemVendorOffset, 2, VendorVirtio, 0);
        DefineRegister(SubsystemVendorOffset + 2, 2, 0x1100, 0);
        DefineRegister(CapabilitiesPointer, 1, FirstCapability, 0);
        DefineBar(0, BarSize, io: false);
        // virtio_pci_cap (4.1.4): vendor 0x09, next, length, cfg_type, bar, id, padding, offset, length.
        int at = FirstCapability;
        at = Capability(at, CapCommon, CommonOffset, CommonLength, extra: 0, last: false);
        at = Capability(at, CapNotify, NotifyOffset, NotifyMultiplier * (uint)queueCount, extra: 4, last: false);
        DefineRegister(at - 4, 4, NotifyMultiplier, 0);    // notify_off_multiplier
        at = Capability(at, CapIsr, IsrOffset, 1, extra: 0, last: false);
        Capability(at, CapDevice, DeviceOffset, 0x1000, extra: 0, last: true);
        Seal();
        ResetDevice();
    }

    private int Capability(int at, byte type, uint offset, uint length, int extra, bool last)
    {
        int size = 16 + extra;
        int next = last ? 0 : at + size;
        DefineRegister(at, 4, 0x09u | (uint)next << 8 | (uint)size << 16 | (uint)type << 24, 0);
        DefineRegister(at + 4, 4, 0, 0);                   // BAR 0, id 0, padding
        DefineRegister(at + 8, 4, offset, 0);
        DefineRegister(at + 12, 4, length, 0);
        return at + size;
    }

    /// <summary>The feature bits this device offers (VERSION_1 is added here).</summary>
    protected abstract ulong OfferedFeatures { get; }

    /// <summary>The device-specific configuration structure (4.1.4.6), read at <see cref="DeviceOffset"/>.</summary>
    protected abstract void ReadDeviceConfig(Span<byte> config);

    /// <summary>The driver made buffers available on queue <paramref name="index"/> (only once DRIVER_OK is set).</summary>
    protected abstract void QueueNotified(int index);

    /// <summary>A device reset (status 0): drop everything in flight.</summary>
    protected abstract void DeviceReset();

    public ulong DeviceFeatures => OfferedFeatures | 1UL << FeatureVersion1 | 1UL << FeatureIndirectDescriptors | 1UL << FeatureEventIndex;
    public ulong DriverFeatures => _driverFeatures;
    public byte DeviceStatus => _status;
    public byte Isr => _isr;
    public bool InterruptLevel => _line;
    /// <summary>Why the device set DEVICE_NEEDS_RESET, or null.</summary>
    public string? Error => _error;
    public IReadOnlyList<SplitVirtqueue> Queues => _queues;
    protected bool EventIndex => (_driverFeatures & 1UL << FeatureEventIndex) != 0;
    internal GuestRam Ram => new(_memory);
    public bool DriverReady => (_status & (StatusDriverOk | StatusNeedsReset)) == StatusDriverOk;

    // ---- configuration space: BAR 0 decodes where the guest put it, while memory decode is on ----

    protected override void ConfigWritten(int offset, int size)
    {
        UpdateMapping();
        UpdateLine();
    }

    public override void LoadState(BinaryReader r)
    {
        base.LoadState(r);
        UpdateMapping();
    }

    private void UpdateMapping()
    {
        uint bar = BarAddress(0);
        bool decode = (Command & CommandMemory) != 0 && bar != 0;
        if (_mapped && (!decode || bar != _mappedAt))
        {
            _memory.UnmapMmio(this);
            _mapped = false;
        }
        if (decode && !_mapped && _memory.TryMapMmioAboveRam(bar, BarSize, this))
        {
            _mapped = true;
            _mappedAt = bar;
        }
    }

    // ---- BAR 0 ----

    public uint Read(uint offset, int size)
    {
        if (offset < CommonOffset + CommonLength) return ReadCommon((int)offset, size);
        if (offset == IsrOffset)
        {
            uint value = _isr;
            _isr = 0;
            UpdateLine();
            return value;
        }
        if (offset >= DeviceOffset && offset < DeviceOffset + 0x100)
        {
            Span<byte> config = stackalloc byte[0x100 + 4];
            config.Clear();
            ReadDeviceConfig(config[..0x100]);
            int o = (int)(offset - DeviceOffset);
            uint v = 0;
            for (int i = 0; i < size; i++) v |= (uint)config[o + i] << (8 * i);
            return v;
        }
        return 0;
    }

    public void Write(uint offset, int size, uint value)
    {
        if (offset < CommonOffset + CommonLength) WriteCommon((int)offset, size, value);
        else if (offset >= NotifyOffset && offset < NotifyOffset + NotifyMultiplier * (uint)_queues.Length)
            Notify((int)((offset - NotifyOffset) / NotifyMultiplier));
        // The ISR is read-only; this device's configuration has no writable field.
    }

    private static ReadOnlySpan<byte> FieldSizes => [4, 4, 4, 4, 2, 2, 1, 1, 2, 2, 2, 2, 2, 8, 8, 8];

    private static int FieldAt(int offset, out int start, out int size)
    {
        start = 0;
        for (int i = 0; i < FieldSizes.Length; i++)
        {
            size = FieldSizes[i];
            if (offset < start + size) return start;
            start += size;
        }
        size = 0;
        return -1;
    }

    private uint ReadCommon(int offset, int size)
    {
        uint value = 0;
        for (int i = 0; i < size; i++)
        {
            int o = offset + i;
            if (FieldAt(o, out int start, out _) < 0) break;
            value |= (uint)(byte)(CommonField(start) >> (8 * (o - start))) << (8 * i);
        }
        return value;
    }

    private void WriteCommon(int offset, int size, uint value)
    {
        int i = 0;
        while (i < size)
        {
            if (FieldAt(offset + i, out int start, out int fieldSize) < 0) return;
            ulong field = CommonField(start);
            for (; i < size && offset + i < start + fieldSize; i++)
            {
                int shift = 8 * (offset + i - start);
                field = (field & ~(0xFFUL << shift)) | (ulong)(byte)(value >> (8 * i)) << shift;
            }
            SetCommonField(start, field);
        }
    }

    private SplitVirtqueue? SelectedQueue => _queueSelect < _queues.Length ? _queues[_queueSelect] : null;

    private ulong CommonField(int start) => start switch
    {
        0x00 => _deviceFeatureSelect,
        0x04 => _deviceFeatureSelect < 2 ? (uint)(DeviceFeatures >> (32 * (int)_deviceFeatureSelect)) : 0u,
        0x08 => _driverFeatureSelect,
        0x0C => _driverFeatureSelect < 2 ? (uint)(_driverFeatures >> (32 * (int)_driverFeatureSelect)) : 0u,
        0x10 => NoVector,
        0x12 => (ulong)_queues.Length,
        0x14 => _status,
        0x15 => _configGeneration,
        0x16 => _queueSelect,
        0x18 => SelectedQueue?.Size ?? 0,
        0x1A => NoVector,
        0x1C => SelectedQueue is { Enabled: true } ? 1u : 0u,
        0x1E => SelectedQueue is null ? 0u : _queueSelect,
        0x20 => SelectedQueue?.DescriptorTable ?? 0,
        0x28 => SelectedQueue?.AvailableRing ?? 0,
        0x30 => SelectedQueue?.UsedRing ?? 0,
        _ => 0,
    };

    private void SetCommonField(int start, ulong value)
    {
        var q = SelectedQueue;
        switch (start)
        {
            case 0x00: _deviceFeatureSelect = (uint)value; break;
            case 0x08: _driverFeatureSelect = (uint)value; break;
            case 0x0C:
                // Features are fixed once FEATURES_OK is set (3.1.1).
                if ((_status & StatusFeaturesOk) != 0 || _driverFeatureSelect >= 2) break;
                int shift = 32 * (int)_driverFeatureSelect;
                _driverFeatures = (_driverFeatures & ~(0xFFFF_FFFFUL << shift)) | (value & 0xFFFF_FFFF) << shift;
                break;
            case 0x14: WriteStatus((byte)value); break;
            case 0x16: _queueSelect = (ushort)value; break;
            case 0x18: if (q is { Enabled: false }) q.Size = (ushort)value; break;
            case 0x1C:
                if (q is { Enabled: false } && value == 1) EnableQueue(q);
                break;
            case 0x20: if (q is { Enabled: false }) q.DescriptorTable = value; break;
            case 0x28: if (q is { Enabled: false }) q.AvailableRing = value; break;
            case 0x30: if (q is { Enabled: false }) q.UsedRing = value; break;
            // The MSI-X vectors read NO_VECTOR (there is no MSI-X); the rest is read-only.
        }
    }

    private void WriteStatus(byte value)
    {
        if (value == 0)
        {
            ResetDevice();
            return;
        }
        if ((value & StatusFeaturesOk) != 0 && (_status & StatusFeaturesOk) == 0)
        {
            // The driver must accept VERSION_1 and nothing this device did not offer (3.1.1, 6.1).
            bool acceptable = (_driverFeatures & ~DeviceFeatures) == 0 && (_driverFeatures & 1UL << FeatureVersion1) != 0;
            if (!acceptable) value &= unchecked((byte)~StatusFeaturesOk);
        }
        byte before = _status;
        _status = (byte)(value | (_status & StatusNeedsReset));
        if ((before & StatusDriverOk) == 0 && DriverReady)
            for (int i = 0; i < _queues.Length; i++) Notify(i);
    }

    private void EnableQueue(SplitVirtqueue q)
    {
        try
        {
            q.Validate(Ram);
            q.Enabled = true;
        }
        catch (VirtioError e)
        {
            Fail(e.Message);
        }
    }

    /// <summary>Back to the state after power-on: status 0, no features, every queue disabled, nothing in flight.</summary>
    public void ResetDevice()
    {
        _deviceFeatureSelect = _driverFeatureSelect = 0;
        _driverFeatures = 0;
        _status = 0;
        _queueSelect = 0;
        _isr = 0;
        _error = null;
        foreach (var q in _queues) q.Reset();
        DeviceReset();
        UpdateLine();
    }

    private void Notify(int index)
    {
        if (!DriverReady || index >= _queues.Length || !_queues[index].Enabled) return;
        try
        {
            QueueNotified(index);
        }
        catch (VirtioError e)
        {
            Fail(e.Message);
        }
    }

    /// <summary>
    /// For <see cref="QueueNotified"/>: the next chain on queue <paramref name="index"/>, or false.
    /// The list is reused: copy what must outlive the call. Publishes avail_event when the ring is empty.
    /// </summary>
    protected bool TryPopChain(int index, out ushort head, out IReadOnlyList<VirtqueueBuffer> buffers)
    {
        var q = _queues[index];
        buffers = _chain;
        if (q.TryPop(Ram, _chain, out head)) return true;
        q.PublishAvailEvent(Ram, EventIndex);
        return false;
    }

    /// <summary>Whether queue <paramref name="index"/> holds a chain the device has not taken (false before DRIVER_OK or after a rule was broken).</summary>
    protected bool HasAvailableChain(int index)
    {
        if (!DriverReady || !_queues[index].Enabled) return false;
        try
        {
            return _queues[index].HasAvailable(Ram);
        }
        catch (VirtioError e)
        {
            Fail(e.Message);
            return false;
        }
    }

    /// <summary>Gives back, unused, the chain the last <see cref="TryPopChain"/> on queue <paramref name="index"/> took.</summary>
    protected void UnpopChain(int index) => _queues[index].Unpop();

    /// <summary>Returns chain <paramref name="head"/> on queue <paramref name="index"/> with <paramref name="written"/> bytes; interrupts if the driver wants it.</summary>
    protected void CompleteChain(int index, ushort head, uint written)
    {
        if (!DriverReady || !_queues[index].Enabled) return;
        try
        {
            if (_queues[index].PushUsed(Ram, head, written, EventIndex))
            {
                _isr |= 1;
                UpdateLine();
            }
        }
        catch (VirtioError e)
        {
            Fail(e.Message);
        }
    }

    /// <summary>The driver broke a rule: DEVICE_NEEDS_RESET, a configuration interrupt, and no more queue processing (2.1.1).</summary>
    protected void Fail(string reason)
    {
        _error ??= reason;
        if ((_status & StatusNeedsReset) != 0) return;
        _status |= StatusNeedsReset;
        _configGeneration++;
        _isr |= 2;
        UpdateLine();
    }

    private void UpdateLine()
    {
        bool level = _isr != 0 && (Command & CommandInterruptDisable) == 0;
        if (level == _line) return;
        _line = level;
        _interrupt(level);
    }

    /// <summary>The transport's state for snapshots (the configuration space travels with the PCI host's).</summary>
    protected void SaveTransport(BinaryWriter w)
    {
        w.Write(_deviceFeatureSelect);
        w.Write(_driverFeatureSelect);
        w.Write(_driverFeatures);
        w.Write(_status);
        w.Write(_configGeneration);
        w.Write(_isr);
        w.Write(_line);
        w.Write(_queueSelect);
        w.Write(_error ?? "");
        foreach (var q in _queues) q.SaveState(w);
    }

    protected void LoadTransport(BinaryReader r)
    {
        _deviceFeatureSelect = r.ReadUInt32();
        _driverFeatureSelect = r.ReadUInt32();
        _driverFeatures = r.ReadUInt64();
        _status = r.ReadByte();
        _configGeneration = r.ReadByte();
        _isr = r.ReadByte();
        _line = r.ReadBoolean();
        _queueSelect = r.ReadUInt16();
        string error = r.ReadString();
        _error = error.Length == 0 ? null : error;
        foreach (var q in _queues) q.LoadState(r);
    }

    protected static void Put16(Span<byte> s, int at, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(s[at..], v);
    protected static void Put32(Span<byte> s, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[at..], v);
    protected static void Put64(Span<byte> s, int at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s[at..], v);
}
