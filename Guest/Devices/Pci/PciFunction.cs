using System.Buffers.Binary;

namespace VmFt.Guest.Devices.Pci;

/// <summary>
/// One PCI function's 256-byte configuration space (PCI Local Bus Specification 3.0, chapter 6):
/// the type-0 header's identification fields are read-only, the bits each register lets software
/// change are set by a write mask, and base address registers decode their size the standard way
/// (the bits below the size are hard-wired, so writing all ones reads back the size mask).
/// </summary>
public abstract class PciFunction
{
    public const int ConfigSize = 256;
    public const int VendorIdOffset = 0x00, DeviceIdOffset = 0x02, CommandOffset = 0x04, StatusOffset = 0x06,
        RevisionOffset = 0x08, ClassCodeOffset = 0x09, HeaderTypeOffset = 0x0E, BarOffset = 0x10,
        SubsystemVendorOffset = 0x2C, InterruptLineOffset = 0x3C, InterruptPinOffset = 0x3D;
    public const ushort CommandIo = 1 << 0, CommandMemory = 1 << 1, CommandBusMaster = 1 << 2, CommandInterruptDisable = 1 << 10;

    private readonly byte[] _config = new byte[ConfigSize];
    private readonly byte[] _writable = new byte[ConfigSize];
    private readonly byte[] _initial = new byte[ConfigSize];
    private bool _sealed;

    protected PciFunction(ushort vendorId, ushort deviceId, byte revision, uint classCode, byte headerType, byte interruptPin = 0)
    {
        W16(VendorIdOffset, vendorId);
        W16(DeviceIdOffset, deviceId);
        _config[RevisionOffset] = revision;
        _config[ClassCodeOffset] = (byte)classCode;           // programming interface
        _config[ClassCodeOffset + 1] = (byte)(classCode >> 8);  // sub-class
        _config[ClassCodeOffset + 2] = (byte)(classCode >> 16); // base class
        _config[HeaderTypeOffset] = headerType;
        _config[InterruptPinOffset] = interruptPin;
        // The interrupt line is a scratch register for firmware and drivers (only meaningful with a pin).
        if (interruptPin != 0) _writable[InterruptLineOffset] = 0xFF;
    }

    public ushort VendorId => R16(VendorIdOffset);
    public ushort DeviceId => R16(DeviceIdOffset);
    public uint ClassCode => (uint)(_config[ClassCodeOffset + 2] << 16 | _config[ClassCodeOffset + 1] << 8 | _config[ClassCodeOffset]);
    public ushort Command => R16(CommandOffset);
    public byte InterruptLine => _config[InterruptLineOffset];
    public byte InterruptPin => _config[InterruptPinOffset];

    /// <summary>Reads <paramref name="size"/> bytes (1, 2 or 4) at <paramref name="offset"/>; bytes past the end read as ones.</summary>
    public uint ReadConfig(int offset, int size)
    {
        uint value = 0;
        for (int i = 0; i < size; i++)
            value |= (uint)(offset + i < ConfigSize ? _config[offset + i] : 0xFF) << (8 * i);
        return value;
    }

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="value"/>; only the bits the register implements change.</summary>
    public void WriteConfig(int offset, int size, uint value)
    {
        bool changed = false;
        for (int i = 0; i < size && offset + i < ConfigSize; i++)
        {
            int o = offset + i;
            byte mask = _writable[o];
            byte before = _config[o];
            _config[o] = (byte)((before & ~mask) | ((byte)(value >> (8 * i)) & mask));
            changed |= _config[o] != before;
        }
        if (changed) ConfigWritten(offset, size);
    }

    /// <summary>The address a base address register decodes (its type bits masked off), 0 when unassigned.</summary>
    public uint BarAddress(int index)
    {
        uint raw = BinaryPrimitives.ReadUInt32LittleEndian(_config.AsSpan(BarOffset + 4 * index));
        return (raw & 1) != 0 ? raw & ~3u : raw & ~0xFu;
    }

    /// <summary>Called after a write changed a register (a device maps or unmaps its BARs here).</summary>
    protected virtual void ConfigWritten(int offset, int size)
    {
    }

    /// <summary>Declares base address register <paramref name="index"/>: I/O or 32-bit memory, a power of two in size.</summary>
    protected void DefineBar(int index, uint size, bool io, bool prefetchable = false)
    {
        if (index is < 0 or > 5) throw new ArgumentOutOfRangeException(nameof(index));
        if (!System.Numerics.BitOperations.IsPow2(size) || size < (io ? 4u : 16u))
            throw new ArgumentException($"a BAR's size is a power of two of at least {(io ? 4 : 16)} bytes", nameof(size));
        uint typeBits = io ? 1u : prefetchable ? 8u : 0u;
        int at = BarOffset + 4 * index;
        BinaryPrimitives.WriteUInt32LittleEndian(_config.AsSpan(at), typeBits);
        BinaryPrimitives.WriteUInt32LittleEndian(_writable.AsSpan(at), ~(size - 1));
    }

    /// <summary>Sets the bits software may write at <paramref name="offset"/>, and the register's value after reset.</summary>
    protected void DefineRegister(int offset, int size, uint resetValue, uint writableBits)
    {
        for (int i = 0; i < size; i++)
        {
            _config[offset + i] = (byte)(resetValue >> (8 * i));
            _writable[offset + i] = (byte)(writableBits >> (8 * i));
        }
    }

    /// <summary>Fixes the reset state: call at the end of a subclass constructor.</summary>
    protected void Seal()
    {
        _config.CopyTo(_initial, 0);
        _sealed = true;
    }

    /// <summary>Back to the reset values (a system reset).</summary>
    public void Reset()
    {
        if (!_sealed) throw new InvalidOperationException("Seal() was not called");
        _initial.CopyTo(_config, 0);
    }

    public virtual void SaveState(BinaryWriter w) => w.Write(_config);

    public virtual void LoadState(BinaryReader r)
    {
        var bytes = r.ReadBytes(ConfigSize);
        if (bytes.Length != ConfigSize) throw new EndOfStreamException();
        bytes.CopyTo(_config, 0);
    }

    private ushort R16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(offset));
    private void W16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(offset), value);
}
