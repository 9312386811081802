namespace VmFt.Guest.Tests.Oracle;

/// <summary>
/// One differential vector: an instruction sequence, the state it started from, and what the host
/// processor did with it (final state, or the exception it raised).
/// </summary>
public sealed class OracleVector
{
    /// <summary>The code page and the data page, the same in the native runner and in the emulator.</summary>
    public const uint CodeBase = 0x0010_0000, DataBase = 0x0020_0000, PageSize = 4096;

    public const int NoFault = -1;

    /// <summary>Index into the file's form table: the instruction form this vector exercises.</summary>
    public ushort Form { get; set; }

    /// <summary>Arithmetic flags the manuals leave undefined for this vector (count-dependent for shifts).</summary>
    public ushort UndefinedFlags { get; set; }

    /// <summary>Bit n set: GPR n (x86 order EAX ECX EDX EBX ESP EBP ESI EDI) holds an undefined value afterwards.</summary>
    public byte UndefinedRegisters { get; set; }

    public uint[] Registers { get; set; } = new uint[8];
    public uint Eflags { get; set; }

    /// <summary>Seed of the xorshift32 stream that fills the data page (see <see cref="FillDataPage"/>).</summary>
    public uint DataSeed { get; set; }

    /// <summary>Dwords written over the seeded data page before the run (pointers that branches follow).</summary>
    public (ushort Offset, uint Value)[] Patches { get; set; } = [];

    public byte[] Code { get; set; } = [];

    public uint[] FinalRegisters { get; set; } = new uint[8];
    public uint FinalEflags { get; set; }

    /// <summary>The exception vector the host raised, or <see cref="NoFault"/>.</summary>
    public int Vector { get; set; } = NoFault;

    /// <summary>Where execution stopped: the end of the code, or the faulting instruction.</summary>
    public uint FinalEip { get; set; }

    /// <summary>Data-page bytes that differ from the initial contents afterwards.</summary>
    public (ushort Offset, byte Value)[] Changes { get; set; } = [];

    public uint EndEip => CodeBase + (uint)Code.Length;

    /// <summary>The data page's initial contents: xorshift32 from the seed, then the patches.</summary>
    public void FillDataPage(Span<byte> page)
    {
        uint s = DataSeed == 0 ? 0x9E3779B9u : DataSeed;
        for (int i = 0; i < PageSize; i += 4)
        {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            page[i] = (byte)s;
            page[i + 1] = (byte)(s >> 8);
            page[i + 2] = (byte)(s >> 16);
            page[i + 3] = (byte)(s >> 24);
        }
        foreach (var (offset, value) in Patches)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(page[offset..], value);
    }
}
