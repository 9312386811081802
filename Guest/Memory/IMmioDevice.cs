namespace VmFt.Guest.Memory;

/// <summary>A device mapped into the physical address space (addresses are offsets into its window).</summary>
public interface IMmioDevice
{
    uint Read(uint offset, int size);
    void Write(uint offset, int size, uint value);
}
