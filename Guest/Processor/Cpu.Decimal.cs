namespace VmFt.Guest.Processor;

// BCD adjustments: DAA DAS AAA AAS AAM AAD, as the SDM's pseudo-code gives them for 386 and later
// processors (AAA/AAS adjust AX as a whole). Flags the SDM calls undefined are computed
// consistently: OF cleared by DAA/DAS/AAA/AAS, AAM's from its AL result, AAD's as the byte
// addition it performs.
public sealed unsafe partial class Cpu
{
    private static void Daa(Cpu c, ref DecodedInstruction d)
    {
        uint al = c.R[EAX] & 0xFF, oldAl = al;
        bool oldCf = (c._flags & CF) != 0;
        uint f = 0;
        if ((al & 0x0F) > 9 || (c._flags & AF) != 0)
        {
            al += 6;
            if (oldCf || al > 0xFF) f |= CF;
            f |= AF;
            al &= 0xFF;
        }
        if (oldAl > 0x99 || oldCf)
        {
            al = (al + 0x60) & 0xFF;
            f |= CF;
        }
        else
        {
            f &= ~CF;
        }
        c.SetReg8(0, (byte)al);
        c.SetArith(ZspFlags<W8>(al) | f);
    }

    private static void Das(Cpu c, ref DecodedInstruction d)
    {
        uint al = c.R[EAX] & 0xFF, oldAl = al;
        bool oldCf = (c._flags & CF) != 0;
        uint f = 0;
        if ((al & 0x0F) > 9 || (c._flags & AF) != 0)
        {
            if (oldCf || al < 6) f |= CF;
            al = (al - 6) & 0xFF;
            f |= AF;
        }
        if (oldAl > 0x99 || oldCf)
        {
            al = (al - 0x60) & 0xFF;
            f |= CF;
        }
        c.SetReg8(0, (byte)al);
        c.SetArith(ZspFlags<W8>(al) | f);
    }

    private static void Aaa(Cpu c, ref DecodedInstruction d)
    {
        uint ax = c.R[EAX] & 0xFFFF;
        uint f = 0;
        if ((ax & 0x0F) > 9 || (c._flags & AF) != 0)
        {
            ax += 0x106;
            f = AF | CF;
        }
        ax &= 0xFF0F;
        W16.SetReg(c, EAX, ax);
        c.SetArith(ZspFlags<W8>(ax) | f);
    }

    private static void Aas(Cpu c, ref DecodedInstruction d)
    {
        uint ax = c.R[EAX] & 0xFFFF;
        uint f = 0;
        if ((ax & 0x0F) > 9 || (c._flags & AF) != 0)
        {
            ax -= 6;
            ax = (ax & 0xFF) | (((ax >> 8) - 1) << 8);
            f = AF | CF;
        }
        ax &= 0xFF0F;
        W16.SetReg(c, EAX, ax);
        c.SetArith(ZspFlags<W8>(ax) | f);
    }

    /// <summary>AAM imm8: AH = AL / base, AL = AL mod base; base 0 is #DE.</summary>
    private static void Aam(Cpu c, ref DecodedInstruction d)
    {
        uint @base = d.Imm & 0xFF;
        if (@base == 0) DivideError();
        uint al = c.R[EAX] & 0xFF;
        uint ah = al / @base;
        al %= @base;
        W16.SetReg(c, EAX, (ah << 8) | al);
        c.SetArith(ZspFlags<W8>(al));
    }

    /// <summary>AAD imm8: AL = AL + AH * base (a byte addition, whose flags it leaves), AH = 0.</summary>
    private static void Aad(Cpu c, ref DecodedInstruction d)
    {
        uint al = c.R[EAX] & 0xFF;
        uint ah = (c.R[EAX] >> 8) & 0xFF;
        uint r = c.AddWithFlags<W8>(al, (ah * (d.Imm & 0xFF)) & 0xFF, 0);
        W16.SetReg(c, EAX, r);
    }

    static partial void RegisterDecimal(delegate*<Cpu, ref DecodedInstruction, void>[] table)
    {
        var t = table;
        Set(t, "Daa", &Daa);
        Set(t, "Das", &Das);
        Set(t, "Aaa", &Aaa);
        Set(t, "Aas", &Aas);
        Set(t, "Aam_imm8", &Aam);
        Set(t, "Aad_imm8", &Aad);
    }
}
