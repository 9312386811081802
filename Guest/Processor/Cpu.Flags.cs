using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

// Arithmetic flags, computed eagerly by each instruction.
public sealed unsafe partial class Cpu
{
    /// <summary>PF for each low byte: set when the number of 1 bits is even.</summary>
    internal static readonly byte[] Parity = BuildParity();

    private static byte[] BuildParity()
    {
        var t = new byte[256];
        for (int i = 0; i < 256; i++)
            t[i] = (byte)((System.Numerics.BitOperations.PopCount((uint)i) & 1) == 0 ? PF : 0);
        return t;
    }

    /// <summary>ZF, SF and PF of a result (masked to the width), as logic instructions set them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint ZspFlags<W>(uint result) where W : struct, IOperandWidth
    {
        result &= W.Mask;
        uint f = Parity[result & 0xFF];
        if (result == 0) f |= ZF;
        if ((result & W.Sign) != 0) f |= SF;
        return f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetArith(uint flags) => _flags = (_flags & ~ArithFlags) | flags;

    /// <summary>a + b + carry with all six arithmetic flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint AddWithFlags<W>(uint a, uint b, uint carry) where W : struct, IOperandWidth
    {
        ulong wide = (ulong)a + b + carry;
        uint r = (uint)wide & W.Mask;
        uint f = ZspFlags<W>(r);
        if (W.Bits == 32 ? (wide >> 32) != 0 : (wide >> W.Bits) != 0) f |= CF;
        if (((a ^ r) & (b ^ r) & W.Sign) != 0) f |= OF;
        f |= (a ^ b ^ r) & AF;
        SetArith(f);
        return r;
    }

    /// <summary>a - b - borrow with all six arithmetic flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint SubWithFlags<W>(uint a, uint b, uint borrow) where W : struct, IOperandWidth
    {
        ulong wide = (ulong)a - b - borrow;
        uint r = (uint)wide & W.Mask;
        uint f = ZspFlags<W>(r);
        if ((ulong)a < (ulong)b + borrow) f |= CF;
        if (((a ^ b) & (a ^ r) & W.Sign) != 0) f |= OF;
        f |= (a ^ b ^ r) & AF;
        SetArith(f);
        return r;
    }

    /// <summary>AND/OR/XOR/TEST: CF = OF = 0, AF cleared (undefined on hardware; cleared, as processors do).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint LogicFlags<W>(uint r) where W : struct, IOperandWidth
    {
        r &= W.Mask;
        SetArith(ZspFlags<W>(r));
        return r;
    }

    /// <summary>Evaluates condition code <paramref name="cc"/> (0 = O ... 15 = G), as in Jcc/SETcc/CMOVcc.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Condition(int cc)
    {
        uint f = _flags;
        bool r = (cc >> 1) switch
        {
            0 => (f & OF) != 0,
            1 => (f & CF) != 0,
            2 => (f & ZF) != 0,
            3 => (f & (CF | ZF)) != 0,
            4 => (f & SF) != 0,
            5 => (f & PF) != 0,
            6 => ((f & SF) != 0) != ((f & OF) != 0),
            _ => (f & ZF) != 0 || (((f & SF) != 0) != ((f & OF) != 0)),
        };
        return r ^ ((cc & 1) != 0);
    }
}
