using System.Buffers.Binary;
using Iced.Intel;
using VmFt.Guest.Tests.Oracle;

namespace VmFt.Tests.Oracle;

/// <summary>
/// Builds random x87 vectors: a seeded (and per form edited) x87 state, the instruction under
/// test with its memory operand in the data page (filled with biased values), sometimes followed
/// by FWAIT (so that a pending unmasked exception raises #MF) or by a second x87 instruction.
/// </summary>
public sealed class X87CaseBuilder(Random rng)
{
    private const uint Data0 = OracleVector.DataBase;
    private const ushort C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, AllC = C0 | C1 | C2 | C3;

    public static List<Code> Forms()
    {
        var forms = new List<Code>();
        foreach (Code code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            if (!op.IsInstruction || !op.Mode32 || op.Encoding != EncodingKind.Legacy) continue;
            uint first = op.OpCodeLength == 2 ? op.OpCode >> 8 : op.OpCode;
            bool escape = op.Table == OpCodeTableKind.Normal && first is >= 0xD8 and <= 0xDF;
            if (!escape && code is not (Code.Wait or Code.Fxsave_m512byte or Code.Fxrstor_m512byte)) continue;
            string name = code.ToString();
            // Not P6 instructions (SSE3, 287XL, 387SL, Cyrix): the host would run some of them.
            if (name.StartsWith("Fisttp", StringComparison.Ordinal) || name.StartsWith("Cyrix", StringComparison.Ordinal)
                || code is Code.Frstpm or Code.Fstdw_AX or Code.Fnstdw_AX or Code.Fstsg_AX or Code.Fnstsg_AX
                    or Code.Ftstp or Code.Frint2 or Code.Frichop or Code.Frinear)
                continue;
            forms.Add(code);
        }
        return forms;
    }

    public static bool IsTranscendental(Code code) => code is Code.Fsin or Code.Fcos or Code.Fsincos or Code.Fptan
        or Code.Fpatan or Code.F2xm1 or Code.Fyl2x or Code.Fyl2xp1;

    /// <summary>The vector file a form's vectors go to.</summary>
    public static string Category(Code code)
    {
        string n = code.ToString();
        if (IsTranscendental(code)) return "x87-transcendental";
        if (n.StartsWith("Fcom", StringComparison.Ordinal) || n.StartsWith("Fucom", StringComparison.Ordinal)
            || n.StartsWith("Ficom", StringComparison.Ordinal) || code is Code.Ftst or Code.Fxam) return "x87-compare";
        if (n.StartsWith("Fadd", StringComparison.Ordinal) || n.StartsWith("Fsub", StringComparison.Ordinal)
            || n.StartsWith("Fmul", StringComparison.Ordinal) || n.StartsWith("Fdiv", StringComparison.Ordinal)
            || n.StartsWith("Fiadd", StringComparison.Ordinal) || n.StartsWith("Fisub", StringComparison.Ordinal)
            || n.StartsWith("Fimul", StringComparison.Ordinal) || n.StartsWith("Fidiv", StringComparison.Ordinal)
            || code is Code.Fsqrt or Code.Fprem or Code.Fprem1 or Code.Fscale or Code.Frndint or Code.Fxtract) return "x87-arith";
        if (n.StartsWith("Fld", StringComparison.Ordinal) || n.StartsWith("Fst", StringComparison.Ordinal)
            || n.StartsWith("Fist", StringComparison.Ordinal) || n.StartsWith("Fild", StringComparison.Ordinal)
            || code is Code.Fbld_m80bcd or Code.Fbstp_m80bcd) return n.Contains("env") || n.Contains("cw") || n.Contains("sw") ? "x87-control" : "x87-move";
        return "x87-control";
    }

    /// <summary>The instructions of the last vector built, with their offsets in the code.</summary>
    public List<(Code Code, uint Offset)> LastSequence { get; } = [];

    /// <summary>
    /// What the comparison may leave out, given how far the host got: the condition codes the SDM
    /// leaves undefined after the instructions that ran, and for a transcendental result the last
    /// bit (1 ulp) and C1, the direction in which the hardware rounded its own approximation.
    /// </summary>
    public static (ushort Undefined, byte Ulp) Allowances(IReadOnlyList<(Code Code, uint Offset)> sequence, OracleVector v)
    {
        ushort undefined = 0;
        byte ulp = 0;
        foreach (var (code, offset) in sequence)
        {
            if (v.Vector != OracleVector.NoFault && OracleVector.CodeBase + offset == v.FinalEip) break;
            undefined = Apply(undefined, code);
            if (IsTranscendental(code))
            {
                // The registers that hold a result: FSINCOS both, FPTAN ST(1) (ST(0) is 1.0), the rest ST(0).
                ulp = code switch { Code.Fsincos => 0x03, Code.Fptan => 0x02, _ => 0x01 };
                undefined |= C1;
            }
        }
        return (undefined, ulp);
    }

    private X87Values _values = new(1);
    private List<(ushort, uint)> _patches = [];
    private byte[] _image = [];
    private readonly List<(ushort, ushort)> _ignored = [];
    private uint _ebx;

    public X87Vector? Build(Code code, out string formName)
    {
        formName = code.ToString();
        _values = new X87Values((uint)rng.Next() | 1);
        _patches = [];
        _ignored.Clear();
        uint stateSeed = (uint)rng.Next() | 1;
        _image = X87Values.InitialImage(stateSeed);
        _stIndex = rng.Next(8);
        EditState(code);
        // The general registers matter little to x87 code: EAX (FNSTSW AX keeps its upper half) is random, EBX the base register.
        var regs = new uint[8];
        regs[0] = (uint)rng.NextInt64(0, 1L << 32);
        _ebx = Data0 + 0x80 + (uint)rng.Next(0, 0x80);
        regs[3] = _ebx;
        regs[4] = Data0 + 0xF00; // ESP: inside the data page, unused by x87 code
        uint eflags = 0x202 | ((uint)rng.Next() & 0x8D5);

        var list = new List<Instruction>();
        // A quarter of the vectors set the control word with FLDCW first (the seeded state has one already).
        if (rng.Next(4) == 0)
        {
            uint at = (uint)rng.Next(0xE00, 0xF00) & ~1u;
            Patch(at, _values.ControlWord() | ((uint)rng.Next(0x10000) << 16));
            list.Add(Instruction.Create(Code.Fldcw_m2byte, new MemoryOperand(Register.None, (long)(Data0 + at), 4)));
        }
        var main = Make(code, main: true);
        if (main is null) return null;
        list.Add(main.Value);
        ushort undefined = Apply(0, code);
        int extra = rng.Next(100);
        if (extra < 15)
        {
            list.Add(Instruction.Create(Code.Wait));
        }
        else if (extra < 32 && !IsTranscendental(code) && code != Code.Fxsave_m512byte) // FXSAVE's SSE area differs by design
        {
            var forms = SecondForms;
            var second = forms[rng.Next(forms.Count)];
            var s = Make(second);
            if (s is not null)
            {
                list.Add(s.Value);
                undefined = Apply(undefined, second);
            }
        }

        var encoder = new CodeWriterImpl();
        var enc = Encoder.Create(32, encoder);
        uint ip = OracleVector.CodeBase;
        LastSequence.Clear();
        foreach (var ins in list)
        {
            if (!enc.TryEncode(ins, ip, out uint len, out _)) return null;
            LastSequence.Add((ins.Code, ip - OracleVector.CodeBase));
            ip += len;
        }
        if (_patches.Count > 64) return null;
        var v = new OracleVector
        {
            DataSeed = (uint)rng.Next() | 1,
            Registers = regs,
            Eflags = eflags,
            Patches = [.. _patches],
            Code = encoder.ToArray(),
        };
        return new X87Vector
        {
            Base = v,
            StateSeed = stateSeed,
            InitialImage = _image,
            UndefinedStatus = undefined,
            IgnoredData = [.. _ignored],
        };
    }

    private static List<Code>? _secondForms;

    /// <summary>Forms that may follow the instruction under test: neither transcendental nor state images.</summary>
    // FSTP1 (D9 D8+i) with an empty ST(0) copies a value the host does not define into ST(i): it
    // only comes first, with ST(0) made valid.
    private static List<Code> SecondForms => _secondForms ??= Forms().Where(c => !IsTranscendental(c) && c != Code.Fstpnce_sti
        && c is not (Code.Fxsave_m512byte or Code.Fxrstor_m512byte) && !c.ToString().Contains("env") && !c.ToString().Contains("save")
        && !c.ToString().Contains("rstor")).ToList();

    /// <summary>The condition codes left undefined after <paramref name="code"/>, given those undefined before it.</summary>
    private static ushort Apply(ushort before, Code code)
    {
        string n = code.ToString();
        // Per the SDM's "FPU Flags Affected" of each instruction: what it defines, what it leaves undefined.
        ushort defines, undefines;
        if (code is Code.Fxam || n.StartsWith("Fprem", StringComparison.Ordinal) || n.StartsWith("Fldenv", StringComparison.Ordinal)
            || n.StartsWith("Frstor", StringComparison.Ordinal) || code is Code.Fxrstor_m512byte || n.Contains("init") || n.Contains("save"))
        {
            defines = AllC;
            undefines = 0;
            if (code is Code.Fxsave_m512byte) defines = 0;
        }
        else if (n.StartsWith("Fcomi", StringComparison.Ordinal) || n.StartsWith("Fucomi", StringComparison.Ordinal))
        {
            // C0, C2, C3 are not affected; C1 is 0 on a stack underflow and otherwise kept (on the host as on Intel's).
            defines = 0;
            undefines = 0;
        }
        else if (n.StartsWith("Fcmov", StringComparison.Ordinal))
        {
            defines = 0; // C1 as for FCOMI
            undefines = C0 | C2 | C3;
        }
        else if (n.StartsWith("Fcom", StringComparison.Ordinal) || n.StartsWith("Fucom", StringComparison.Ordinal)
                 || n.StartsWith("Ficom", StringComparison.Ordinal) || code is Code.Ftst)
        {
            defines = AllC;
            undefines = 0;
        }
        else if (code is Code.Fsin or Code.Fcos or Code.Fsincos or Code.Fptan)
        {
            defines = C1 | C2;
            undefines = C0 | C3;
        }
        else if (code is Code.Ffree_sti or Code.Ffreep_sti or Code.Fnop or Code.Fldcw_m2byte || n.Contains("stcw") || n.Contains("stsw")
                 || n.Contains("stenv") || n.Contains("clex") || n.Contains("eni") || n.Contains("disi") || n.Contains("setpm"))
        {
            defines = 0;
            undefines = AllC;
        }
        else if (code is Code.Wait || n.StartsWith("Fxsave", StringComparison.Ordinal))
        {
            defines = 0;
            undefines = 0;
        }
        else
        {
            // Loads, stores, exchanges, arithmetic, FCHS/FABS, FINCSTP/FDECSTP, FXTRACT, FSCALE ...: C1 only.
            defines = C1;
            undefines = C0 | C2 | C3;
        }
        return (ushort)((before & ~defines) | undefines);
    }

    // ---- state edits --------------------------------------------------------------------------

    private int Top => (BinaryPrimitives.ReadUInt16LittleEndian(_image.AsSpan(4)) >> 11) & 7;

    private void SetSt(int i, ulong sig, ushort se)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_image.AsSpan(28 + 10 * i), sig);
        BinaryPrimitives.WriteUInt16LittleEndian(_image.AsSpan(36 + 10 * i), se);
        int phys = (Top + i) & 7;
        ushort tags = BinaryPrimitives.ReadUInt16LittleEndian(_image.AsSpan(8));
        tags = (ushort)(tags & ~(3 << (2 * phys)));
        BinaryPrimitives.WriteUInt16LittleEndian(_image.AsSpan(8), tags);
    }

    private (ulong, ushort) Value(int expLow, int expHigh)
    {
        if (rng.Next(8) == 0) return _values.Extended();
        ulong sig = _values.Next64() | (1UL << 63);
        int e = rng.Next(expLow, expHigh + 1);
        ushort sign = rng.Next(2) == 0 ? (ushort)0 : (ushort)0x8000;
        return (sig, (ushort)(sign | e));
    }

    /// <summary>A normal value with its exponent in range, or a zero, infinity, NaN or denormal.</summary>
    private (ulong, ushort) InRange(int expLow, int expHigh)
    {
        ushort sign = rng.Next(2) == 0 ? (ushort)0 : (ushort)0x8000;
        return rng.Next(16) switch
        {
            0 => (0, sign),
            1 => (1UL << 63, (ushort)(sign | 0x7FFF)),
            2 => ((3UL << 62) | (_values.Next64() >> 30), (ushort)(sign | 0x7FFF)),
            3 => (_values.Next64() >> (1 + rng.Next(63)), sign),
            _ => (_values.Next64() | (1UL << 63), (ushort)(sign | rng.Next(expLow, expHigh + 1))),
        };
    }

    /// <summary>ST(i) of the main instruction's register operand, chosen before the state is edited.</summary>
    private int _stIndex;

    private static bool IsAddSub(Code code)
    {
        string n = code.ToString();
        return (n.StartsWith("Fadd", StringComparison.Ordinal) || n.StartsWith("Fsub", StringComparison.Ordinal)) && n.Contains("st");
    }

    /// <summary>
    /// ST(0) and ST(i) such that the exact sum or difference falls on, or next to, a rounding edge
    /// of the precision in force: x with zeros below its last 24/53/64 bits, y = half a unit of x's
    /// last place (or a hair above or below), both signs.
    /// </summary>
    private void CraftHalfway(int i)
    {
        ushort cw = BinaryPrimitives.ReadUInt16LittleEndian(_image);
        int p = ((cw >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 };
        int e = rng.Next(10) == 0 ? rng.Next(1, 80) : 0x3FFF + rng.Next(-40, 40);
        ulong x = (_values.Next64() | (1UL << 63)) & (p == 64 ? ulong.MaxValue : ~(ulong.MaxValue >> p));
        if (rng.Next(2) == 0) x |= p == 64 ? 1UL : 1UL << (64 - p); // odd last bit: ties go up
        int ye = e - p; // half an ulp of x: 2^(e - 16383 - p)
        ulong y = 1UL << 63;
        switch (rng.Next(4))
        {
            case 0: break;
            case 1: y |= 1; break;                     // a hair above half
            case 2: y = ulong.MaxValue; ye--; break;   // a hair below half
            default: y |= _values.Next64() >> 1; break;
        }
        if (ye < 1) return;
        ushort sx = rng.Next(2) == 0 ? (ushort)0 : (ushort)0x8000, sy = rng.Next(2) == 0 ? (ushort)0 : (ushort)0x8000;
        bool swap = rng.Next(2) == 0;
        SetSt(swap ? i : 0, x, (ushort)(sx | e));
        SetSt(swap ? 0 : i, y, (ushort)(sy | ye));
    }

    private void EditState(Code code)
    {
        if (IsAddSub(code) && rng.Next(3) == 0 && _stIndex != 0)
        {
            CraftHalfway(_stIndex);
            return;
        }
        switch (code)
        {
            case Code.Fstpnce_sti:
                {
                    var (s, e) = _values.Extended();
                    SetSt(0, s, e);
                    break;
                }
            case Code.F2xm1:
                {
                    // Defined for -1 <= x <= 1 only: in range, or a special operand.
                    var (s, e) = InRange(0x3FFF - 70, 0x3FFE);
                    if (rng.Next(10) == 0) (s, e) = (1UL << 63, (ushort)(0x3FFF | (rng.Next(2) << 15)));
                    SetSt(0, s, e);
                    break;
                }
            case Code.Fyl2xp1:
                {
                    var (s, e) = InRange(0x3FFF - 70, 0x3FFC); // |x| < 1 - sqrt(2)/2
                    SetSt(0, s, e);
                    var (s1, e1) = Value(0x3FFF - 20, 0x3FFF + 20);
                    SetSt(1, s1, e1);
                    break;
                }
            case Code.Fyl2x:
                {
                    var (s, e) = Value(0x3FFF - 100, 0x3FFF + 100);
                    if (rng.Next(4) != 0) e &= 0x7FFF; // mostly positive
                    if (rng.Next(8) == 0) s = 1UL << 63; // powers of two: exact logarithms
                    SetSt(0, s, e);
                    var (s1, e1) = Value(0x3FFF - 20, 0x3FFF + 20);
                    SetSt(1, s1, e1);
                    break;
                }
            case Code.Fscale:
                {
                    var (s, e) = Value(0x3FFF, 0x3FFF + 15);
                    if (rng.Next(3) == 0) (s, e) = Value(0x3FFF - 3, 0x3FFF + 3);
                    SetSt(1, s, e);
                    break;
                }
            case Code.Fprem:
            case Code.Fprem1:
                {
                    var (s1, e1) = Value(0x3FFF - 40, 0x3FFF + 40);
                    SetSt(1, s1, e1);
                    int d = rng.Next(10) switch { < 5 => rng.Next(0, 64), < 8 => rng.Next(-2, 3), _ => rng.Next(64, 130) };
                    var (s0, _) = Value(0, 0);
                    int e0 = Math.Clamp((e1 & 0x7FFF) + d, 1, 0x7FFE);
                    SetSt(0, s0 | (1UL << 63), (ushort)(e0 | (rng.Next(2) << 15)));
                    break;
                }
            case Code.Fsin:
            case Code.Fcos:
            case Code.Fsincos:
            case Code.Fptan:
                {
                    var (s, e) = Value(0x3FFF - 30, 0x3FFF + 62);
                    if (rng.Next(6) == 0) (s, e) = Value(0x3FFF + 62, 0x3FFF + 64);
                    SetSt(0, s, e);
                    break;
                }
            case Code.Fbstp_m80bcd:
                {
                    var (s, e) = Value(0x3FFF - 2, 0x3FFF + 60);
                    SetSt(0, s, e);
                    break;
                }
            case Code.Fist_m16int or Code.Fistp_m16int or Code.Fist_m32int or Code.Fistp_m32int or Code.Fistp_m64int:
                {
                    int bits = code.ToString().Contains("16") ? 16 : code.ToString().Contains("32") ? 32 : 64;
                    var (s, e) = Value(0x3FFF - 2, 0x3FFF + bits);
                    SetSt(0, s, e);
                    break;
                }
        }
    }

    // ---- instructions -------------------------------------------------------------------------

    private Instruction? Make(Code code, bool main = false)
    {
        var op = code.ToOpCode();
        int st = main ? _stIndex : rng.Next(8);
        switch (op.OpCount)
        {
            case 0:
                return Instruction.Create(code);
            case 1 when op.GetOpKind(0) == OpCodeOperandKind.mem:
                return Instruction.Create(code, Memory(code));
            case 1 when op.GetOpKind(0) == OpCodeOperandKind.ax:
                return Instruction.Create(code, Register.AX);
            case 1:
                return Instruction.Create(code, Register.ST0 + st);
            case 2:
                {
                    var k0 = op.GetOpKind(0);
                    int i = st;
                    return k0 == OpCodeOperandKind.st0
                        ? Instruction.Create(code, Register.ST0, Register.ST0 + i)
                        : Instruction.Create(code, Register.ST0 + i, Register.ST0);
                }
        }
        return null;
    }

    private static int MemorySize(Code code)
    {
        string n = code.ToString();
        return n switch
        {
            _ when n.EndsWith("m32fp", StringComparison.Ordinal) || n.EndsWith("m32int", StringComparison.Ordinal) => 4,
            _ when n.EndsWith("m64fp", StringComparison.Ordinal) || n.EndsWith("m64int", StringComparison.Ordinal) => 8,
            _ when n.EndsWith("m80fp", StringComparison.Ordinal) || n.EndsWith("m80bcd", StringComparison.Ordinal) => 10,
            _ when n.EndsWith("m16int", StringComparison.Ordinal) || n.EndsWith("m2byte", StringComparison.Ordinal) => 2,
            _ when n.EndsWith("m14byte", StringComparison.Ordinal) => 14,
            _ when n.EndsWith("m28byte", StringComparison.Ordinal) => 28,
            _ when n.EndsWith("m94byte", StringComparison.Ordinal) => 94,
            _ when n.EndsWith("m108byte", StringComparison.Ordinal) => 108,
            _ => 512,
        };
    }

    private MemoryOperand Memory(Code code)
    {
        int size = MemorySize(code);
        uint offset;
        if (size == 512) offset = 0x200 + (uint)rng.Next(0, 0x40) * 16;
        else
        {
            offset = (uint)rng.Next(0x100, 0xE00 - size);
            if (rng.Next(8) != 0) offset &= ~7u;
        }
        Fill(code, offset);
        uint address = Data0 + offset;
        if (rng.Next(10) < 3 && address - _ebx < 0x80)
            return new MemoryOperand(Register.EBX, (long)(address - _ebx), 1);
        return new MemoryOperand(Register.None, (long)address, 4);
    }

    private void Patch(uint offset, uint value) => _patches.Add(((ushort)offset, value));

    private void Patch64(uint offset, ulong value)
    {
        Patch(offset, (uint)value);
        Patch(offset + 4, (uint)(value >> 32));
    }

    private void PatchExtended(uint offset, (ulong Sig, ushort SignExp) v)
    {
        Patch64(offset, v.Sig);
        Patch(offset + 8, v.SignExp | ((uint)rng.Next(0x10000) << 16));
    }

    /// <summary>Writes the operand a load reads; stores need nothing (the seeded bytes show what changed).</summary>
    private void Fill(Code code, uint offset)
    {
        string n = code.ToString();
        bool load = n.StartsWith("Fld", StringComparison.Ordinal) || n.StartsWith("Fild", StringComparison.Ordinal)
            || n.StartsWith("Fadd", StringComparison.Ordinal) || n.StartsWith("Fsub", StringComparison.Ordinal)
            || n.StartsWith("Fmul", StringComparison.Ordinal) || n.StartsWith("Fdiv", StringComparison.Ordinal)
            || n.StartsWith("Fi", StringComparison.Ordinal) && !n.StartsWith("Fist", StringComparison.Ordinal)
            || n.StartsWith("Fcom", StringComparison.Ordinal) || n.StartsWith("Frstor", StringComparison.Ordinal)
            || n.StartsWith("Fxrstor", StringComparison.Ordinal) || n.StartsWith("Fbld", StringComparison.Ordinal);
        if (n.StartsWith("Fxsave", StringComparison.Ordinal))
        {
            // MXCSR, MXCSR_MASK and the XMM area: this CPU has no SSE and leaves them (see Cpu.X87.Control.cs).
            _ignored.Add(((ushort)(offset + 24), 8));
            _ignored.Add(((ushort)(offset + 160), 352));
            return;
        }
        if (!load) return;
        if (n.EndsWith("m32fp", StringComparison.Ordinal)) Patch(offset, _values.Single());
        else if (n.EndsWith("m64fp", StringComparison.Ordinal)) Patch64(offset, _values.Double());
        else if (n.EndsWith("m80fp", StringComparison.Ordinal)) PatchExtended(offset, _values.Extended());
        else if (n.EndsWith("m16int", StringComparison.Ordinal)) Patch(offset, (ushort)_values.Integer(16) | ((uint)rng.Next(0x10000) << 16));
        else if (n.EndsWith("m32int", StringComparison.Ordinal)) Patch(offset, (uint)_values.Integer(32));
        else if (n.EndsWith("m64int", StringComparison.Ordinal)) Patch64(offset, (ulong)_values.Integer(64));
        else if (n.EndsWith("m80bcd", StringComparison.Ordinal))
        {
            ulong lo = 0;
            uint hi = 0;
            int digits = rng.Next(19);
            for (int i = 0; i < 18; i++)
            {
                ulong digit = i < digits ? (ulong)rng.Next(10) : 0;
                if (i < 16) lo |= digit << (4 * i);
                else hi |= (uint)digit << (4 * (i - 16));
            }
            hi |= (uint)(rng.Next(2) << 15) | (uint)(rng.Next(0x80) << 8);
            Patch64(offset, lo);
            Patch(offset + 8, hi | ((uint)rng.Next(0x10000) << 16));
        }
        else if (n.EndsWith("m2byte", StringComparison.Ordinal)) Patch(offset, _values.ControlWord() | ((uint)rng.Next(0x10000) << 16));
        else if (n.StartsWith("Fldenv", StringComparison.Ordinal) || n.StartsWith("Frstor", StringComparison.Ordinal))
            FillEnvironment(offset, n.EndsWith("m28byte", StringComparison.Ordinal) || n.EndsWith("m108byte", StringComparison.Ordinal), n.StartsWith("Frstor", StringComparison.Ordinal));
        else if (n.StartsWith("Fxrstor", StringComparison.Ordinal)) FillFxImage(offset);
    }

    private (ushort Cw, ushort Sw, ushort Tw) RandomEnvironmentWords()
    {
        ushort cw = _values.ControlWord();
        if (rng.Next(4) == 0) cw = (ushort)(cw ^ (rng.Next(0x10000) & 0xE080)); // reserved bits
        int flags = rng.Next(3) == 0 ? rng.Next(0x80) : 0;
        ushort sw = (ushort)(flags | (rng.Next(0x10000) & 0x4700) | (rng.Next(8) << 11) | (rng.Next(4) == 0 ? 0x8080 : 0));
        ushort tw = (ushort)rng.Next(0x10000);
        if (rng.Next(2) == 0) tw |= 0xFF00;
        return (cw, sw, tw);
    }

    private void FillEnvironment(uint offset, bool op32, bool registers)
    {
        var (cw, sw, tw) = RandomEnvironmentWords();
        uint ip = (uint)rng.NextInt64(0, 1L << 32), dp = (uint)rng.NextInt64(0, 1L << 32);
        if (op32)
        {
            Patch(offset, cw | ((uint)rng.Next(0x10000) << 16));
            Patch(offset + 4, sw | ((uint)rng.Next(0x10000) << 16));
            Patch(offset + 8, tw | ((uint)rng.Next(0x10000) << 16));
            Patch(offset + 12, ip);
            Patch(offset + 16, (uint)rng.NextInt64(0, 1L << 32));
            Patch(offset + 20, dp);
            Patch(offset + 24, (uint)rng.NextInt64(0, 1L << 32));
        }
        else
        {
            Patch(offset, cw | ((uint)sw << 16));
            Patch(offset + 4, tw | ((ip & 0xFFFF) << 16));
            Patch(offset + 8, (uint)rng.NextInt64(0, 1L << 32));
            Patch(offset + 12, (uint)rng.Next(0x10000) | (0u << 16));
        }
        if (!registers) return;
        uint regs = offset + (op32 ? 28u : 14u);
        for (int i = 0; i < 8; i++)
        {
            var (sig, se) = _values.Extended();
            uint at = regs + 10 * (uint)i;
            // Written as whole dwords: the next register's first bytes are written right after.
            Patch64(at, sig);
            Patch(at + 8, se | ((uint)rng.Next(0x10000) << 16));
        }
    }

    private void FillFxImage(uint offset)
    {
        var (cw, sw, _) = RandomEnvironmentWords();
        Patch(offset, cw | ((uint)sw << 16));
        Patch(offset + 4, (uint)rng.Next(0x100) | ((uint)rng.Next(0x800) << 16));
        Patch(offset + 8, (uint)rng.NextInt64(0, 1L << 32));
        Patch(offset + 12, (uint)rng.Next(0x10000));
        Patch(offset + 16, (uint)rng.NextInt64(0, 1L << 32));
        Patch(offset + 20, (uint)rng.Next(0x10000));
        Patch(offset + 24, 0x1F80); // a valid MXCSR: the host's FXRSTOR faults on reserved bits
        for (int i = 0; i < 8; i++)
        {
            var (sig, se) = _values.Extended();
            uint at = offset + 32 + 16 * (uint)i;
            Patch64(at, sig);
            Patch(at + 8, se);
        }
    }

    private sealed class CodeWriterImpl : CodeWriter
    {
        private readonly List<byte> _bytes = [];
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => [.. _bytes];
    }
}
