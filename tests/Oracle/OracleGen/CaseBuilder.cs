using Iced.Intel;
using VmFt.Guest.Tests.Oracle;

namespace VmFt.Tests.Oracle;

/// <summary>Builds one random vector (inputs only) for an instruction form.</summary>
public sealed class CaseBuilder(Random rng)
{
    private const uint Code0 = OracleVector.CodeBase, Data0 = OracleVector.DataBase, Page = OracleVector.PageSize;
    private static readonly Register[] R32 = [Register.EAX, Register.ECX, Register.EDX, Register.EBX, Register.ESP, Register.EBP, Register.ESI, Register.EDI];
    private static readonly Register[] R16 = [Register.AX, Register.CX, Register.DX, Register.BX, Register.SP, Register.BP, Register.SI, Register.DI];
    private static readonly Register[] R8 = [Register.AL, Register.CL, Register.DL, Register.BL, Register.AH, Register.CH, Register.DH, Register.BH];
    private static readonly uint[] Edges = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x8000_0001];

    private uint[] _regs = new uint[8];
    private bool[] _fixed = new bool[8];
    private readonly byte[] _page = new byte[Page];

    /// <summary>The vector, or null when this draw produced nothing usable (the caller draws again).</summary>
    public OracleVector? Build(Code code, string? variant, out string formName)
    {
        formName = variant is null ? code.ToString() : $"{code}+{variant}";
        _regs = new uint[8];
        _fixed = new bool[8];
        for (int i = 0; i < 8; i++) _regs[i] = RandomValue();
        // ESP always points into the data page so that pushes, pops and [esp+x] stay there.
        Fix(4, Data0 + 0x900 + (uint)rng.Next(0, 0x300) & ~(rng.Next(8) == 0 ? 0u : 3u));
        uint eflags = 0x202 | ((uint)rng.Next() & 0x8D5) | (rng.Next(4) == 0 ? 0x400u : 0);
        var v = new OracleVector { DataSeed = (uint)rng.Next() | 1 };
        var patches = new List<(ushort, uint)>();

        byte[]? bytes;
        if (FormCatalog.IsBranch(code))
            bytes = BuildControl(code, patches);
        else if (FormCatalog.Category(code) == "string")
            bytes = BuildString(code, variant);
        else
            bytes = BuildSingle(code, patches);
        if (bytes is null || bytes.Length > 200) return null;

        if (code.Mnemonic() is Mnemonic.Popf or Mnemonic.Popfd)
        {
            // The popped image: arithmetic flags, DF, ID, and IOPL/IF bits that CPL 3 must ignore.
            // TF and AC are left out: they would trap or alignment-check the harness itself.
            uint image = ((uint)rng.Next() & (0x8D5 | 0x400 | 0x3000 | 0x200 | 0x4000 | 0x20_0000)) | 2;
            patches.Add(((ushort)(_regs[4] - Data0), image));
        }

        v.Registers = _regs;
        v.Eflags = eflags;
        v.Patches = [.. patches];
        v.Code = bytes;
        v.FillDataPage(_page);
        (v.UndefinedFlags, v.UndefinedRegisters) = Undefined(code, bytes, v);
        return v;
    }

    private void Fix(int reg, uint value)
    {
        _regs[reg] = value;
        _fixed[reg] = true;
    }

    private uint RandomValue() => rng.Next(10) switch
    {
        < 2 => Edges[rng.Next(Edges.Length)],
        < 4 => (uint)rng.Next(0, 256),
        < 5 => (uint)rng.Next(0, 0x10000),
        _ => (uint)rng.NextInt64(0, 1L << 32),
    };

    private Register RandomReg(OpCodeOperandKind kind, bool avoidEsp = false)
    {
        int n;
        do n = rng.Next(8); while (avoidEsp && n == 4);
        return kind switch
        {
            OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode or OpCodeOperandKind.r8_or_mem => R8[n],
            OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r16_or_mem => R16[n],
            _ => R32[n],
        };
    }

    private static int Num(Register r) => r switch
    {
        >= Register.EAX and <= Register.EDI => r - Register.EAX,
        >= Register.AX and <= Register.DI => r - Register.AX,
        >= Register.AL and <= Register.BH => (r - Register.AL) & 3,
        _ => -1,
    };

    private byte[]? Encode(in Instruction ins, uint ip = Code0)
    {
        var w = new CodeWriterImpl();
        var enc = Encoder.Create(32, w);
        return enc.TryEncode(ins, ip, out _, out _) ? w.ToArray() : null;
    }

    /// <summary>Places a memory operand at a random address of the data page with room bytes either side.</summary>
    private void SetMemory(ref Instruction ins, int size, int room, Register avoid = Register.None)
    {
        uint target = Data0 + (uint)rng.Next(room, (int)Page - room - size);
        int b, x;
        do
        {
            b = rng.Next(10) < 1 ? -1 : rng.Next(8);
            x = rng.Next(10) < 4 ? -1 : rng.Next(8);
        } while (x == 4 || (b >= 0 && R32[b] == avoid) || (x >= 0 && R32[x] == avoid));
        int scale = 1 << rng.Next(4);
        uint idx = x < 0 ? 0 : _fixed[x] ? _regs[x] : (uint)rng.Next(-64, 64);
        int dispSize = rng.Next(3) switch { 0 => 0, 1 => 1, _ => 4 };
        uint disp = dispSize switch { 0 => 0, 1 => (uint)rng.Next(-128, 128), _ => (uint)rng.Next(-0x2000, 0x2000) };
        if (x >= 0 && x != b && !_fixed[x]) Fix(x, idx);
        if (b < 0)
        {
            disp = target - idx * (uint)scale;
            dispSize = 4;
        }
        else if (b == x)
        {
            if (_fixed[b]) disp = target - _regs[b] * (uint)(scale + 1);
            else
            {
                uint v = (target - disp) / (uint)(scale + 1);
                disp = target - v * (uint)(scale + 1);
                Fix(b, v);
            }
        }
        else
        {
            if (_fixed[b]) disp = target - _regs[b] - idx * (uint)scale;
            else Fix(b, target - idx * (uint)scale - disp);
        }
        if (dispSize == 0 && disp != 0) dispSize = 1;
        if (dispSize == 1 && (int)disp is < -128 or > 127) dispSize = 4;
        ins.MemoryBase = b < 0 ? Register.None : R32[b];
        ins.MemoryIndex = x < 0 ? Register.None : R32[x];
        ins.MemoryIndexScale = x < 0 ? 1 : scale;
        ins.MemoryDisplacement32 = disp;
        ins.MemoryDisplSize = dispSize;
        ins.SegmentPrefix = Register.None;
    }

    private static int SizeOf(OpCodeOperandKind k, OpCodeInfo op) => k switch
    {
        OpCodeOperandKind.r8_or_mem => 1,
        OpCodeOperandKind.r16_or_mem => 2,
        OpCodeOperandKind.r32_or_mem => 4,
        _ => op.OperandSize == 16 ? 2 : 8,
    };

    private byte[]? BuildSingle(Code code, List<(ushort, uint)> patches)
    {
        var op = code.ToOpCode();
        var ins = new Instruction { Code = code };
        var m = code.Mnemonic();
        bool memOperand = false;
        Register bitReg = Register.None;
        for (int i = 0; i < op.OpCount; i++)
        {
            var kind = op.GetOpKind(i);
            switch (kind)
            {
                case OpCodeOperandKind.r8_reg or OpCodeOperandKind.r16_reg or OpCodeOperandKind.r32_reg
                    or OpCodeOperandKind.r8_opcode or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r32_opcode:
                    var r = RandomReg(kind);
                    ins.SetOpKind(i, OpKind.Register);
                    ins.SetOpRegister(i, r);
                    if (i == 1 && m is Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc) bitReg = r;
                    break;
                case OpCodeOperandKind.al: ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.AL); break;
                case OpCodeOperandKind.cl: ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.CL); break;
                case OpCodeOperandKind.ax: ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.AX); break;
                case OpCodeOperandKind.eax: ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.EAX); break;
                case OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem
                    when rng.Next(2) == 0 && m != Mnemonic.Lea:
                    ins.SetOpKind(i, OpKind.Register);
                    ins.SetOpRegister(i, RandomReg(kind));
                    break;
                case OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.mem:
                    ins.SetOpKind(i, OpKind.Memory);
                    memOperand = true;
                    break;
                case OpCodeOperandKind.mem_offs:
                    ins.SetOpKind(i, OpKind.Memory);
                    ins.MemoryDisplacement32 = Data0 + (uint)rng.Next(16, (int)Page - 16);
                    ins.MemoryDisplSize = 4;
                    break;
                case OpCodeOperandKind.imm8_const_1: ins.SetOpKind(i, OpKind.Immediate8); ins.Immediate8 = 1; break;
                case OpCodeOperandKind.imm8 when i == 1 && m == Mnemonic.Enter:
                    ins.SetOpKind(i, OpKind.Immediate8_2nd);
                    ins.Immediate8_2nd = (byte)(rng.Next(3) == 0 ? rng.Next(0, 256) : rng.Next(0, 5));
                    break;
                case OpCodeOperandKind.imm8:
                    ins.SetOpKind(i, OpKind.Immediate8);
                    ins.Immediate8 = (byte)(IsShift(m) ? ShiftCount(op) : (uint)RandomValue());
                    break;
                case OpCodeOperandKind.imm8sex16: ins.SetOpKind(i, OpKind.Immediate8to16); ins.Immediate8to16 = (sbyte)RandomValue(); break;
                case OpCodeOperandKind.imm8sex32: ins.SetOpKind(i, OpKind.Immediate8to32); ins.Immediate8to32 = (sbyte)RandomValue(); break;
                case OpCodeOperandKind.imm16:
                    ins.SetOpKind(i, OpKind.Immediate16);
                    ins.Immediate16 = m == Mnemonic.Enter ? (ushort)rng.Next(0, 600) : (ushort)RandomValue();
                    break;
                case OpCodeOperandKind.imm32: ins.SetOpKind(i, OpKind.Immediate32); ins.Immediate32 = RandomValue(); break;
                default: return null;
            }
        }

        // Register constraints the instruction itself needs before its memory operand is placed.
        if (m is Mnemonic.Enter or Mnemonic.Leave) Fix(5, Data0 + (uint)rng.Next(0xC00, 0xF00));
        if (IsShift(m) && !_fixed[1]) _regs[1] = (_regs[1] & ~0xFFu) | ShiftCount(op);
        if (m is Mnemonic.Div or Mnemonic.Idiv && rng.Next(3) != 0) ShapeDividend(op);

        if (memOperand)
        {
            if (bitReg != Register.None)
            {
                // Bit offsets reach up to 1 KiB either side of the operand: the memory forms address
                // outside the operand itself (SDM vol. 2, BT: "bit offset ... -2^31 to 2^31-1").
                SetMemory(ref ins, 4, 1500, R32[Num(bitReg)]);
                int n = Num(bitReg);
                if (_fixed[n]) return null;
                uint bits = (uint)rng.Next(-8 * 1000, 8 * 1000);
                _regs[n] = op.OperandSize == 16 ? (_regs[n] & 0xFFFF0000u) | (bits & 0xFFFF) : bits;
            }
            else SetMemory(ref ins, 8, 64);
        }
        // The memory operand may have claimed ECX as base or index: a 16-bit SHLD/SHRD by CL must
        // still count at most 16, beyond which the result is undefined (SDM vol. 2, SHLD).
        if (m is Mnemonic.Shld or Mnemonic.Shrd && op.OperandSize == 16 && op.GetOpKind(2) == OpCodeOperandKind.cl
            && (_regs[1] & 0x1F) > 16)
            return null;
        return Encode(ins);
    }

    private static bool IsShift(Mnemonic m) => m is Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr
        or Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Shld or Mnemonic.Shrd;

    /// <summary>Counts 0-33, weighted to small ones. SHLD/SHRD of 16 bits stay within 0-16 (beyond, the result is undefined).</summary>
    private uint ShiftCount(OpCodeInfo op)
    {
        bool dbl = op.Code.Mnemonic() is Mnemonic.Shld or Mnemonic.Shrd;
        if (dbl && op.OperandSize == 16) return (uint)rng.Next(0, 17) | (rng.Next(4) == 0 ? 0x20u : 0);
        return rng.Next(3) == 0 ? (uint)rng.Next(0, 256) : (uint)rng.Next(0, 34);
    }

    /// <summary>Most random dividends overflow; this makes the quotient fit two times in three.</summary>
    private void ShapeDividend(OpCodeInfo op)
    {
        uint eax = _regs[0];
        if (op.Code.Mnemonic() == Mnemonic.Div)
            _regs[2] = op.OperandSize == 16 ? _regs[2] & 0xFFFF0000 : (uint)rng.Next(0, 16);
        else
            _regs[2] = op.OperandSize == 16 ? (_regs[2] & 0xFFFF0000) | ((eax & 0x8000) != 0 ? 0xFFFFu : 0) : ((int)eax < 0 ? 0xFFFF_FFFFu : 0);
        if (op.GetOpKind(0) == OpCodeOperandKind.r8_or_mem) _regs[0] = (eax & 0xFFFF00FF) | ((uint)rng.Next(0, 4) << 8);
    }

    private byte[]? BuildString(Code code, string? variant)
    {
        var m = code.Mnemonic();
        bool rep = variant is not null;
        // Source and destination well inside the page: at most 64 elements of 4 bytes either way.
        Fix(6, Data0 + (uint)rng.Next(0x300, 0x700));
        Fix(7, Data0 + (uint)rng.Next(0x900, 0xD00));
        if (rep) _regs[1] = (uint)rng.Next(0, 40);
        if (m == Mnemonic.Xlatb)
        {
            Fix(3, Data0 + (uint)rng.Next(0x100, 0xE00));
            var x = new Instruction { Code = code };
            x.Op0Kind = OpKind.Memory;
            x.MemoryBase = Register.EBX;
            x.MemoryIndex = Register.AL;
            return Encode(x);
        }
        var rk = variant switch { "REP" or "REPE" => RepPrefixKind.Repe, "REPNE" => RepPrefixKind.Repne, _ => RepPrefixKind.None };
        Instruction ins = m switch
        {
            Mnemonic.Movsb => Instruction.CreateMovsb(32, Register.None, rk),
            Mnemonic.Movsw => Instruction.CreateMovsw(32, Register.None, rk),
            Mnemonic.Movsd => Instruction.CreateMovsd(32, Register.None, rk),
            Mnemonic.Cmpsb => Instruction.CreateCmpsb(32, Register.None, rk),
            Mnemonic.Cmpsw => Instruction.CreateCmpsw(32, Register.None, rk),
            Mnemonic.Cmpsd => Instruction.CreateCmpsd(32, Register.None, rk),
            Mnemonic.Scasb => Instruction.CreateScasb(32, rk),
            Mnemonic.Scasw => Instruction.CreateScasw(32, rk),
            Mnemonic.Scasd => Instruction.CreateScasd(32, rk),
            Mnemonic.Lodsb => Instruction.CreateLodsb(32, Register.None, rk),
            Mnemonic.Lodsw => Instruction.CreateLodsw(32, Register.None, rk),
            Mnemonic.Lodsd => Instruction.CreateLodsd(32, Register.None, rk),
            Mnemonic.Stosb => Instruction.CreateStosb(32, rk),
            Mnemonic.Stosw => Instruction.CreateStosw(32, rk),
            Mnemonic.Stosd => Instruction.CreateStosd(32, rk),
            _ => throw new InvalidOperationException(code.ToString()),
        };
        if (ins.Code != code) return null;
        // For SCAS/CMPS, make matches likely: AL/AX/EAX often equals the first element.
        return Encode(ins);
    }

    /// <summary>The string variants a form is generated with: plain and each prefix it takes.</summary>
    public static string?[] Variants(Code code)
    {
        var m = code.Mnemonic();
        if (FormCatalog.Category(code) != "string" || m == Mnemonic.Xlatb) return [null];
        if (m is Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd)
            return [null, "REPE", "REPNE"];
        return [null, "REP"];
    }

    private byte[]? BuildControl(Code code, List<(ushort, uint)> patches)
    {
        var m = code.Mnemonic();
        var op = code.ToOpCode();
        var list = new List<Instruction>();
        var targets = new List<int>();   // per instruction: index it branches to, -1 none; list.Count = end
        const int End = int.MaxValue;

        void Add(Instruction i, int target = -1) { list.Add(i); targets.Add(target); }
        void Filler(int n)
        {
            for (int k = 0; k < n; k++)
            {
                var r = R32[new[] { 0, 2, 3, 5, 6, 7 }[rng.Next(6)]];
                Add(rng.Next(3) switch
                {
                    0 => Instruction.Create(Code.Add_rm32_imm32, r, rng.Next()),
                    1 => Instruction.Create(Code.Inc_r32, r),
                    _ => Instruction.Create(Code.Xor_rm32_r32, r, R32[new[] { 0, 2, 3 }[rng.Next(3)]]),
                });
            }
        }

        if (m is Mnemonic.Ret)
        {
            // call L1; jmp end; L1: ret [imm16]
            Add(Instruction.CreateBranch(Code.Call_rel32_32, 0), 2);
            Add(Instruction.CreateBranch(Code.Jmp_rel8_32, 0), End);
            var ret = op.OpCount == 1 ? Instruction.Create(code, (uint)rng.Next(0, 64) * 2) : Instruction.Create(code);
            Add(ret);
        }
        else if (op.GetOpKind(0) is OpCodeOperandKind.r32_or_mem)
        {
            // jmp/call r/m32 to the end of the sequence: through a register, or a pointer in the data page.
            var ins = new Instruction { Code = code };
            if (rng.Next(2) == 0)
            {
                int n = new[] { 0, 1, 2, 3, 5, 6, 7 }[rng.Next(7)];
                ins.Op0Kind = OpKind.Register;
                ins.Op0Register = R32[n];
                Fix(n, 0); // patched below once the length is known
            }
            else
            {
                ins.Op0Kind = OpKind.Memory;
                SetMemory(ref ins, 4, 64);
            }
            Add(ins);
            Filler(rng.Next(0, 3));
        }
        else if (m is Mnemonic.Loop or Mnemonic.Loope or Mnemonic.Loopne && rng.Next(2) == 0)
        {
            // A backward loop: body; loop body. The count is small so it ends.
            uint count = (uint)rng.Next(1, 20);
            _regs[1] = op.AddressSize == 16 ? (_regs[1] & 0xFFFF0000) | count : count;
            _fixed[1] = true;
            Filler(1);
            Add(Instruction.CreateBranch(code, 0), 0);
        }
        else
        {
            // A forward branch to the end over some filler: taken or not, depending on flags/ECX.
            Add(Instruction.CreateBranch(code, 0), End);
            Filler(rng.Next(0, 4));
            if (m is Mnemonic.Jecxz or Mnemonic.Jcxz && rng.Next(2) == 0)
                _regs[1] = op.AddressSize == 16 ? _regs[1] & 0xFFFF0000 : 0;
        }

        // Lay out: branch targets depend on instruction lengths, which are fixed per form.
        var offsets = new uint[list.Count + 1];
        byte[][] encoded = new byte[list.Count][];
        for (int pass = 0; pass < 4; pass++)
        {
            uint at = 0;
            for (int k = 0; k < list.Count; k++)
            {
                var ins = list[k];
                if (targets[k] >= 0)
                    ins.NearBranch32 = Code0 + (targets[k] == End ? offsets[list.Count] : offsets[targets[k]]);
                list[k] = ins;
                offsets[k] = at;
                var bytes = Encode(ins, Code0 + at);
                if (bytes is null) return null;
                encoded[k] = bytes;
                at += (uint)bytes.Length;
            }
            offsets[list.Count] = at;
        }
        uint end = Code0 + offsets[list.Count];
        var first = list[0];
        if (first.Code == code && op.GetOpKind(0) is OpCodeOperandKind.r32_or_mem)
        {
            if (first.Op0Kind == OpKind.Register) Fix(Num(first.Op0Register), end);
            else
            {
                uint ea = first.MemoryDisplacement32
                          + (first.MemoryBase == Register.None ? 0 : _regs[Num(first.MemoryBase)])
                          + (first.MemoryIndex == Register.None ? 0 : _regs[Num(first.MemoryIndex)] * (uint)first.MemoryIndexScale);
                patches.Add(((ushort)(ea - Data0), end));
            }
        }
        return [.. encoded.SelectMany(b => b)];
    }

    private (ushort Flags, byte Regs) Undefined(Code code, byte[] bytes, OracleVector v)
    {
        const ushort CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
        var m = code.Mnemonic();
        var op = code.ToOpCode();
        var decoder = Decoder.Create(32, new ByteArrayCodeReader(bytes));
        decoder.IP = Code0;
        var ins = decoder.Decode();
        if (IsShift(m))
        {
            int width = op.OperandSize == 0 ? 8 : op.OperandSize;
            if (op.GetOpKind(0) == OpCodeOperandKind.r8_or_mem) width = 8;
            int count = (int)(ins.GetOpKind(ins.OpCount - 1) == OpKind.Register ? v.Registers[1] & 0xFF : ins.GetImmediate(ins.OpCount - 1)) & 0x1F;
            if (count == 0) return (0, 0);
            ushort u = count == 1 ? (ushort)0 : OF;
            if (m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar) u |= AF;
            if (m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr && count >= width) u |= CF;
            if (m is Mnemonic.Shld or Mnemonic.Shrd) u |= AF;
            return (u, 0);
        }
        ushort flags = 0;
        var undefined = ins.RflagsUndefined;
        if ((undefined & RflagsBits.CF) != 0) flags |= CF;
        if ((undefined & RflagsBits.PF) != 0) flags |= PF;
        if ((undefined & RflagsBits.AF) != 0) flags |= AF;
        if ((undefined & RflagsBits.ZF) != 0) flags |= ZF;
        if ((undefined & RflagsBits.SF) != 0) flags |= SF;
        if ((undefined & RflagsBits.OF) != 0) flags |= OF;
        byte regs = 0;
        if (m is Mnemonic.Bsf or Mnemonic.Bsr)
        {
            // "If the content of the source operand is 0, the content of the destination operand is undefined."
            int size = op.OperandSize / 8;
            uint src;
            if (ins.Op1Kind == OpKind.Register) src = v.Registers[Num(ins.Op1Register)];
            else
            {
                uint ea = ins.MemoryDisplacement32 + (ins.MemoryBase == Register.None ? 0 : v.Registers[Num(ins.MemoryBase)])
                          + (ins.MemoryIndex == Register.None ? 0 : v.Registers[Num(ins.MemoryIndex)] * (uint)ins.MemoryIndexScale);
                src = BitConverter.ToUInt32(_page, (int)(ea - Data0));
            }
            if (size == 2) src &= 0xFFFF;
            if (src == 0) regs |= (byte)(1 << Num(ins.Op0Register));
        }
        return (flags, regs);
    }

    private sealed class CodeWriterImpl : CodeWriter
    {
        private readonly List<byte> _bytes = [];
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => [.. _bytes];
    }
}
