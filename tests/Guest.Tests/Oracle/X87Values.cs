using System.Buffers.Binary;

namespace VmFt.Guest.Tests.Oracle;

/// <summary>
/// A deterministic source of x87 test values biased to the hard cases (denormals, infinities,
/// NaNs, the unsupported encodings, values near the overflow and underflow thresholds of each
/// format, halfway cases for rounding), and the seeded initial x87 state of a vector. Shared by
/// the generator and the replay: the state is stored as its seed, never as bytes.
/// </summary>
public sealed class X87Values(uint seed)
{
    private uint _s = seed == 0 ? 0x9E37_79B9u : seed;

    public uint Next()
    {
        _s ^= _s << 13;
        _s ^= _s >> 17;
        _s ^= _s << 5;
        return _s;
    }

    public ulong Next64() => ((ulong)Next() << 32) | Next();

    /// <summary>0 .. n-1.</summary>
    public int Below(int n) => (int)(Next() % (uint)n);

    public bool Chance(int percent) => Below(100) < percent;

    /// <summary>An 80-bit value (significand, sign/exponent).</summary>
    public (ulong Sig, ushort SignExp) Extended()
    {
        ushort sign = Chance(50) ? (ushort)0x8000 : (ushort)0;
        ulong sig = Next64() | (1UL << 63);
        int exp;
        switch (Below(100))
        {
            case < 30: exp = 0x3FFF - 8 + Below(17); break;                 // near 1
            case < 45: exp = 0x3FFF - 70 + Below(141); break;               // moderate
            case < 55: exp = 1 + Below(0x7FFE); break;                      // anywhere
            case < 60: exp = 0x7FFE - Below(3); break;                      // near overflow
            case < 65: exp = 1 + Below(3); break;                           // near underflow
            case < 68: exp = 0; sig >>= 1 + Below(63); break;               // denormal
            case < 69: exp = 0; break;                                      // pseudo-denormal (integer bit set)
            case < 72: return (0, (ushort)(sign));                          // zero
            case < 75: return (1UL << 63, (ushort)(sign | 0x7FFF));         // infinity
            case < 78: return ((1UL << 63) | (1UL << 62) | (Next64() >> Below(64) >> 2), (ushort)(sign | 0x7FFF)); // QNaN
            case < 80: return ((1UL << 63) | ((Next64() >> 2) | 1), (ushort)(sign | 0x7FFF));                    // SNaN
            case < 81: return (0xC000_0000_0000_0000, 0xFFFF);              // the indefinite
            case < 82: exp = 1 + Below(0x7FFE); sig &= ~(1UL << 63); break; // unnormal
            case < 83: exp = 0x7FFF; sig &= ~(1UL << 63); break;            // pseudo-NaN / pseudo-infinity
            case < 86: exp = 0x3FFF + Below(60) - 30; sig = SingleEdge(sig); break;   // single rounding edges
            case < 89: exp = 0x3FFF + Below(60) - 30; sig = DoubleEdge(sig); break;   // double rounding edges
            case < 92: exp = 0x3FFF + Below(64); sig = IntegerLike(sig, exp); break;          // integers, halves
            case < 94: exp = 0x3FFF - 126 - Below(30); break;                                  // single denormal range
            case < 96: exp = 0x3FFF - 1022 - Below(60); break;                                 // double denormal range
            case < 98: exp = 0x3FFF + 127 + Below(3) - 1; break;                               // single overflow edge
            default: exp = 0x3FFF + 1023 + Below(3) - 1; break;                                // double overflow edge
        }
        return (sig, (ushort)(sign | (exp & 0x7FFF)));
    }

    /// <summary>Significand whose bits after the 24th are a rounding edge (halfway, just above/below, all ones).</summary>
    private ulong SingleEdge(ulong sig) => Edge(sig, 24);

    private ulong DoubleEdge(ulong sig) => Edge(sig, 53);

    private ulong Edge(ulong sig, int bits)
    {
        int drop = 64 - bits;
        ulong keep = sig & ~((1UL << drop) - 1);
        ulong half = 1UL << (drop - 1);
        ulong low = Below(6) switch
        {
            0 => half,
            1 => half - 1,
            2 => half + 1,
            3 => (1UL << drop) - 1,
            4 => 0,
            _ => 1,
        };
        return keep | low | (1UL << 63);
    }

    /// <summary>A value with few fraction bits: an integer, a half, a quarter (FRNDINT, FIST, FPREM edges).</summary>
    private ulong IntegerLike(ulong sig, int exp)
    {
        int intBits = Math.Min(63, exp - 0x3FFF);
        int frac = Below(3);
        int keep = Math.Min(64, intBits + 1 + frac);
        return keep >= 64 ? sig : (sig & ~(ulong.MaxValue >> keep)) | (1UL << 63);
    }

    /// <summary>A single (m32fp) biased like <see cref="Extended"/>.</summary>
    public uint Single()
    {
        uint sign = Chance(50) ? 0x8000_0000u : 0;
        uint frac = Next() & 0x7F_FFFF;
        return Below(12) switch
        {
            0 => sign,
            1 => sign | 0x7F80_0000,
            2 => sign | 0x7FC0_0000 | (frac & 0x3F_FFFF),
            3 => sign | 0x7F80_0000 | ((frac & 0x3F_FFFF) | 1),
            4 => sign | (frac >> Below(23)),                         // denormal
            5 => sign | ((uint)(1 + Below(3)) << 23) | frac,         // near underflow
            6 => sign | ((uint)(254 - Below(2)) << 23) | frac,       // near overflow
            _ => sign | ((uint)(127 - 20 + Below(41)) << 23) | frac,
        };
    }

    public ulong Double()
    {
        ulong sign = Chance(50) ? 1UL << 63 : 0;
        ulong frac = Next64() & 0x000F_FFFF_FFFF_FFFF;
        return Below(12) switch
        {
            0 => sign,
            1 => sign | 0x7FF0_0000_0000_0000,
            2 => sign | 0x7FF8_0000_0000_0000 | (frac & 0x7_FFFF_FFFF_FFFF),
            3 => sign | 0x7FF0_0000_0000_0000 | ((frac & 0x7_FFFF_FFFF_FFFF) | 1),
            4 => sign | (frac >> Below(52)),
            5 => sign | ((ulong)(1 + Below(3)) << 52) | frac,
            6 => sign | ((ulong)(2046 - Below(2)) << 52) | frac,
            _ => sign | ((ulong)(1023 - 40 + Below(81)) << 52) | frac,
        };
    }

    public long Integer(int bits)
    {
        long max = bits == 64 ? long.MaxValue : (1L << (bits - 1)) - 1;
        long v = Below(6) switch
        {
            0 => 0,
            1 => max,
            2 => -max - 1,
            3 => (long)Below(200) - 100,
            _ => (long)Next64(),
        };
        return bits == 64 ? v : v << (64 - bits) >> (64 - bits);
    }

    /// <summary>A control word: all exceptions masked most of the time, any rounding, precision 24, 53 or 64 (never the reserved 01).</summary>
    public ushort ControlWord()
    {
        int masks = Chance(65) ? 0x3F : (int)(Next() & 0x3F);
        int pc = Below(10) switch { < 4 => 3, < 7 => 2, _ => 0 };
        int rc = Below(4);
        return (ushort)(masks | 0x40 | (pc << 8) | (rc << 10));
    }

    /// <summary>The 108-byte FRSTOR image (32-bit protected-mode layout) a vector starts from.</summary>
    public static byte[] InitialImage(uint seed)
    {
        var v = new X87Values(seed);
        var image = new byte[108];
        ushort cw = v.ControlWord();
        int top = v.Below(8);
        int flags = v.Chance(80) ? 0 : (int)(v.Next() & 0x3F) & (cw & 0x3F); // pending flags only where masked
        if (v.Chance(3)) flags |= 0x40; // SF left over
        int cc = (int)(v.Next() & 0x4700);
        ushort sw = (ushort)(flags | cc | (top << 11));
        // Mostly ST(0) .. ST(3) full and the rest empty, sometimes a full or an empty stack.
        int full = v.Below(10) switch { 0 => 0, 1 => 8, 2 => 7, _ => 1 + v.Below(5) };
        int tags = 0;
        for (int i = 0; i < 8; i++)
        {
            int phys = (top + i) & 7;
            bool valid = i < full;
            if (v.Chance(4)) valid = !valid;
            tags |= (valid ? 0 : 3) << (2 * phys);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(image, 0xFFFF_0000u | cw);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(4), 0xFFFF_0000u | sw);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(8), 0xFFFF_0000u | (uint)tags);
        for (int i = 0; i < 8; i++)
        {
            var (sig, se) = v.Extended();
            BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(28 + 10 * i), sig);
            BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(36 + 10 * i), se);
        }
        return image;
    }
}
