namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// Minimal exception plumbing for tests: a real-mode IVT entry, or, in flat protected mode, an IDT
/// and GDT that share the reset values of GDTR and IDTR (both at linear 0). GDT entry 1 (bytes 8-15,
/// which is also IDT entry 1, so vector 1 is unusable) is a flat conforming ring-0 code segment, so
/// an exception at any CPL is delivered without a stack switch.
/// </summary>
internal static class ExceptionTables
{
    public const ushort HandlerSelector = 0x08;

    public static void SetRealModeVector(CpuTestHarness h, int vector, ushort segment, ushort offset)
    {
        h.Memory.Load((uint)vector * 4, [(byte)offset, (byte)(offset >> 8), (byte)segment, (byte)(segment >> 8)]);
    }

    /// <summary>Installs the conforming code descriptor and a 32-bit interrupt gate for each vector, all to <paramref name="handler"/>.</summary>
    public static void SetProtectedModeVectors(CpuTestHarness h, uint handler, params int[] vectors)
    {
        // Flat 4 GiB, present, DPL 0, code, conforming, readable, accessed (type 0xF), 32-bit, 4 KiB granular.
        h.Memory.Load(8, BitConverter.GetBytes(0x00CF_9F00_0000_FFFFUL));
        foreach (int v in vectors)
        {
            if (v == 1) throw new ArgumentException("IDT entry 1 holds the code descriptor", nameof(vectors));
            uint lo = ((uint)HandlerSelector << 16) | (handler & 0xFFFF);
            uint hi = (handler & 0xFFFF_0000) | 0x8E00; // present, DPL 0, 32-bit interrupt gate
            h.Memory.Load((uint)v * 8, BitConverter.GetBytes(((ulong)hi << 32) | lo));
        }
    }

    public static uint ReadRam32(CpuTestHarness h, uint address) => BitConverter.ToUInt32(h.Memory.Ram, (int)address);
    public static ushort ReadRam16(CpuTestHarness h, uint address) => BitConverter.ToUInt16(h.Memory.Ram, (int)address);
}
