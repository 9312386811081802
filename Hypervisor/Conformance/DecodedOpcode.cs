namespace VmFt.Hypervisor.Conformance;

/// <summary>Just enough decoding of a real-mode 286 instruction to pick the comparison rules.</summary>
public readonly record struct DecodedOpcode(byte Opcode, int Reg, int Mod, int Rm, bool SsOverride, bool Lock)
{
    public static DecodedOpcode Of(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        bool ss = false, lockPrefix = false;
        // Segment overrides, LOCK and REP: the only prefixes a 286 knows.
        while (i < bytes.Length - 1 && bytes[i] is 0x26 or 0x2E or 0x36 or 0x3E or 0xF0 or 0xF2 or 0xF3)
        {
            if (bytes[i] == 0x36) ss = true;
            if (bytes[i] == 0xF0) lockPrefix = true;
            i++;
        }
        byte op = bytes[i];
        byte modrm = i + 1 < bytes.Length ? bytes[i + 1] : (byte)0;
        return new DecodedOpcode(op, (modrm >> 3) & 7, modrm >> 6, modrm & 7, ss, lockPrefix);
    }

    /// <summary>
    /// The instruction reaches memory through SS: an implicit stack operation, or a ModRM memory
    /// operand whose default segment is SS (BP-based) or that carries an SS override.
    /// </summary>
    public bool TouchesStack
    {
        get
        {
            if (Opcode is 0x06 or 0x07 or 0x0E or 0x16 or 0x17 or 0x1E or 0x1F
                or (>= 0x50 and <= 0x61) or 0x68 or 0x6A or 0x8F or 0x9A or 0x9C or 0x9D
                or 0xC2 or 0xC3 or 0xC8 or 0xC9 or 0xCA or 0xCB or 0xCC or 0xCD or 0xCE or 0xCF or 0xE8)
                return true;
            if (Opcode == 0xFF && Reg is 2 or 3 or 6) return true;
            if (!HasModRm || Mod == 3) return false;
            return SsOverride || Rm is 2 or 3 || (Rm == 6 && Mod != 0);
        }
    }

    /// <summary>
    /// A form a 386+ accepts LOCK on (SDM vol. 2, LOCK): ADD, ADC, AND, DEC, INC, NEG, NOT, OR, SBB,
    /// SUB, XOR and XCHG with a memory destination (the 286's subset of the list).
    /// </summary>
    public bool LockableOn386
    {
        get
        {
            if (Mod == 3) return false;
            return Opcode switch
            {
                0x00 or 0x01 or 0x08 or 0x09 or 0x10 or 0x11 or 0x18 or 0x19
                    or 0x20 or 0x21 or 0x28 or 0x29 or 0x30 or 0x31 or 0x86 or 0x87 => true,
                >= 0x80 and <= 0x83 => Reg != 7,          // not CMP
                0xF6 or 0xF7 => Reg is 2 or 3,            // NOT, NEG
                0xFE or 0xFF => Reg is 0 or 1,            // INC, DEC
                _ => false,
            };
        }
    }

    private bool HasModRm => Opcode switch
    {
        <= 0x3F => (Opcode & 7) < 4,
        0x62 or 0x69 or 0x6B or (>= 0x80 and <= 0x8F) or 0xC0 or 0xC1 or 0xC4 or 0xC5 or 0xC6 or 0xC7 => true,
        (>= 0xD0 and <= 0xD3) or (>= 0xD8 and <= 0xDF) or 0xF6 or 0xF7 or 0xFE or 0xFF => true,
        _ => false,
    };
}
