using System.Buffers.Binary;
using VmFt.Guest.Memory;

namespace VmFt.Guest.Devices.Virtio;

/// <summary>
/// A device's DMA view of guest memory: plain RAM only, every range checked before it is touched
/// (a range that leaves RAM is a <see cref="VirtioError"/>), and writes reported so decoded code in
/// the pages is dropped.
/// </summary>
internal readonly struct GuestRam(PhysicalMemory memory)
{
    public PhysicalMemory Memory => memory;

    public void Check(ulong address, ulong length, string what)
    {
        if (address > memory.RamSize || length > memory.RamSize - address)
            throw new VirtioError($"{what} at 0x{address:X} ({length} bytes) lies outside RAM");
    }

    public ReadOnlySpan<byte> Span(ulong address, int length, string what)
    {
        Check(address, (ulong)length, what);
        return memory.Ram.AsSpan((int)address, length);
    }

    public ushort ReadU16(ulong address, string what) => BinaryPrimitives.ReadUInt16LittleEndian(Span(address, 2, what));

    public uint ReadU32(ulong address, string what) => BinaryPrimitives.ReadUInt32LittleEndian(Span(address, 4, what));

    public ulong ReadU64(ulong address, string what) => BinaryPrimitives.ReadUInt64LittleEndian(Span(address, 8, what));

    public void WriteU16(ulong address, ushort value, string what)
    {
        Check(address, 2, what);
        BinaryPrimitives.WriteUInt16LittleEndian(memory.Ram.AsSpan((int)address), value);
        memory.NotifyWritten((uint)address, 2);
    }

    public void WriteU32(ulong address, uint value, string what)
    {
        Check(address, 4, what);
        BinaryPrimitives.WriteUInt32LittleEndian(memory.Ram.AsSpan((int)address), value);
        memory.NotifyWritten((uint)address, 4);
    }

    public void Write(ulong address, ReadOnlySpan<byte> data, string what)
    {
        Check(address, (ulong)data.Length, what);
        data.CopyTo(memory.Ram.AsSpan((int)address));
        memory.NotifyWritten((uint)address, (uint)data.Length);
    }
}
