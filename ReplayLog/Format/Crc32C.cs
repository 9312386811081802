using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace VmFt.ReplayLog.Format;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor all ones), the
/// checksum of every block and section. Uses the SSE4.2 CRC32 instruction when the host has it.
/// </summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78;

    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    /// <summary>Continues a running (not yet inverted) CRC over more bytes.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            ulong c = crc;
            while (data.Length >= 8)
            {
                c = Sse42.X64.Crc32(c, Unsafe.ReadUnaligned<ulong>(ref Unsafe.AsRef(in data[0])));
                data = data[8..];
            }
            crc = (uint)c;
        }
        if (Sse42.IsSupported)
        {
            foreach (byte b in data) crc = Sse42.Crc32(crc, b);
            return crc;
        }
        return UpdateTable(crc, data);
    }

    /// <summary>The portable path, also used by tests to check the hardware path against it.</summary>
    public static uint ComputeWithTable(ReadOnlySpan<byte> data) => ~UpdateTable(~0u, data);

    private static uint UpdateTable(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] table = Table;
        foreach (byte b in data) crc = table[(byte)(crc ^ b)] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
