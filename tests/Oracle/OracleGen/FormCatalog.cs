using Iced.Intel;

namespace VmFt.Tests.Oracle;

/// <summary>
/// The instruction forms under test: every legacy-encoded, 32-bit-mode Iced <see cref="Code"/> of
/// the i686 integer user-mode instructions, with operands this generator can place (registers,
/// immediates, memory in the data page, near branches inside the code page).
/// </summary>
public static class FormCatalog
{
    private static readonly HashSet<Mnemonic> Included =
    [
        Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Cmp, Mnemonic.Test,
        Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Neg, Mnemonic.Not,
        Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr, Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Shld, Mnemonic.Shrd,
        Mnemonic.Mul, Mnemonic.Imul, Mnemonic.Div, Mnemonic.Idiv,
        Mnemonic.Aaa, Mnemonic.Aas, Mnemonic.Daa, Mnemonic.Das, Mnemonic.Aam, Mnemonic.Aad,
        Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr,
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe, Mnemonic.Seta,
        Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg,
        Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovbe, Mnemonic.Cmova,
        Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp, Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg,
        Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Xchg, Mnemonic.Xadd, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Bswap, Mnemonic.Lea,
        Mnemonic.Push, Mnemonic.Pop, Mnemonic.Pusha, Mnemonic.Pushad, Mnemonic.Popa, Mnemonic.Popad,
        Mnemonic.Pushf, Mnemonic.Pushfd, Mnemonic.Popf, Mnemonic.Popfd, Mnemonic.Enter, Mnemonic.Leave,
        Mnemonic.Lahf, Mnemonic.Sahf, Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cwd, Mnemonic.Cdq,
        Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc, Mnemonic.Cld, Mnemonic.Std,
        Mnemonic.Movsb, Mnemonic.Movsw, Mnemonic.Movsd, Mnemonic.Cmpsb, Mnemonic.Cmpsw, Mnemonic.Cmpsd,
        Mnemonic.Scasb, Mnemonic.Scasw, Mnemonic.Scasd, Mnemonic.Lodsb, Mnemonic.Lodsw, Mnemonic.Lodsd,
        Mnemonic.Stosb, Mnemonic.Stosw, Mnemonic.Stosd, Mnemonic.Xlatb,
        Mnemonic.Jo, Mnemonic.Jno, Mnemonic.Jb, Mnemonic.Jae, Mnemonic.Je, Mnemonic.Jne, Mnemonic.Jbe, Mnemonic.Ja,
        Mnemonic.Js, Mnemonic.Jns, Mnemonic.Jp, Mnemonic.Jnp, Mnemonic.Jl, Mnemonic.Jge, Mnemonic.Jle, Mnemonic.Jg,
        Mnemonic.Jmp, Mnemonic.Call, Mnemonic.Ret, Mnemonic.Loop, Mnemonic.Loope, Mnemonic.Loopne, Mnemonic.Jecxz, Mnemonic.Jcxz,
    ];

    private static readonly HashSet<OpCodeOperandKind> Placeable =
    [
        OpCodeOperandKind.r8_reg, OpCodeOperandKind.r16_reg, OpCodeOperandKind.r32_reg,
        OpCodeOperandKind.r8_opcode, OpCodeOperandKind.r16_opcode, OpCodeOperandKind.r32_opcode,
        OpCodeOperandKind.r8_or_mem, OpCodeOperandKind.r16_or_mem, OpCodeOperandKind.r32_or_mem, OpCodeOperandKind.mem,
        OpCodeOperandKind.mem_offs, OpCodeOperandKind.al, OpCodeOperandKind.cl, OpCodeOperandKind.ax, OpCodeOperandKind.eax,
        OpCodeOperandKind.imm8, OpCodeOperandKind.imm8_const_1, OpCodeOperandKind.imm8sex16, OpCodeOperandKind.imm8sex32,
        OpCodeOperandKind.imm16, OpCodeOperandKind.imm32,
        OpCodeOperandKind.br32_1, OpCodeOperandKind.br32_4,
        OpCodeOperandKind.seg_rSI, OpCodeOperandKind.es_rDI, OpCodeOperandKind.seg_rDI, OpCodeOperandKind.seg_rBX_al,
    ];

    public static List<Code> Forms()
    {
        var forms = new List<Code>();
        foreach (Code code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            if (!op.IsInstruction || !op.Mode32 || op.Encoding != EncodingKind.Legacy) continue;
            if (!Included.Contains(code.Mnemonic())) continue;
            if (op.IsPrivileged || op.IsInputOutput) continue;
            if (op.OperandSize == 64 || op.AddressSize == 64) continue;
            // 16-bit addressing (67h) is only wanted where the instruction's count register is CX (JCXZ, LOOP ... CX).
            if (op.AddressSize == 16 && code.Mnemonic() is not (Mnemonic.Jcxz or Mnemonic.Loop or Mnemonic.Loope or Mnemonic.Loopne)) continue;
            bool ok = true;
            for (int i = 0; i < op.OpCount; i++) ok &= Placeable.Contains(op.GetOpKind(i));
            if (!ok) continue;
            // A near branch with a 16-bit operand size truncates EIP to 16 bits, which leaves the
            // code page: those forms (66h CALL/JMP/RET/Jcc) cannot run in a flat 32-bit process.
            if (IsBranch(code) && op.OperandSize == 16) continue;
            // 0F A6/A7: CMPXCHG's encoding on early 486 steppings only; #UD on an i686.
            if (code is Code.Cmpxchg486_rm8_r8 or Code.Cmpxchg486_rm16_r16 or Code.Cmpxchg486_rm32_r32) continue;
            // BSWAP with a 16-bit operand is undefined (SDM vol. 2, BSWAP).
            if (code == Code.Bswap_r16) continue;
            // Memory forms of far transfers and pointer loads are segment loads: excluded.
            if (code.Mnemonic() is Mnemonic.Call or Mnemonic.Jmp && op.GetOpKind(0) == OpCodeOperandKind.mem) continue;
            forms.Add(code);
        }
        return forms;
    }

    public static bool IsBranch(Code code) => code.Mnemonic() is
        Mnemonic.Jo or Mnemonic.Jno or Mnemonic.Jb or Mnemonic.Jae or Mnemonic.Je or Mnemonic.Jne or Mnemonic.Jbe or Mnemonic.Ja or
        Mnemonic.Js or Mnemonic.Jns or Mnemonic.Jp or Mnemonic.Jnp or Mnemonic.Jl or Mnemonic.Jge or Mnemonic.Jle or Mnemonic.Jg or
        Mnemonic.Jmp or Mnemonic.Call or Mnemonic.Ret or Mnemonic.Loop or Mnemonic.Loope or Mnemonic.Loopne or Mnemonic.Jecxz or Mnemonic.Jcxz;

    /// <summary>The vector file a form's vectors go to.</summary>
    public static string Category(Code code) => code.Mnemonic() switch
    {
        Mnemonic.Add or Mnemonic.Or or Mnemonic.Adc or Mnemonic.Sbb or Mnemonic.And or Mnemonic.Sub or Mnemonic.Xor
            or Mnemonic.Cmp or Mnemonic.Test or Mnemonic.Inc or Mnemonic.Dec or Mnemonic.Neg or Mnemonic.Not => "alu",
        Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr
            or Mnemonic.Sar or Mnemonic.Shld or Mnemonic.Shrd => "shift",
        Mnemonic.Mul or Mnemonic.Imul or Mnemonic.Div or Mnemonic.Idiv
            or Mnemonic.Aaa or Mnemonic.Aas or Mnemonic.Daa or Mnemonic.Das or Mnemonic.Aam or Mnemonic.Aad => "muldiv-bcd",
        Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc or Mnemonic.Bsf or Mnemonic.Bsr => "bit",
        Mnemonic.Push or Mnemonic.Pop or Mnemonic.Pusha or Mnemonic.Pushad or Mnemonic.Popa or Mnemonic.Popad
            or Mnemonic.Pushf or Mnemonic.Pushfd or Mnemonic.Popf or Mnemonic.Popfd or Mnemonic.Enter or Mnemonic.Leave => "stack",
        Mnemonic.Movsb or Mnemonic.Movsw or Mnemonic.Movsd or Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd
            or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Lodsb or Mnemonic.Lodsw or Mnemonic.Lodsd
            or Mnemonic.Stosb or Mnemonic.Stosw or Mnemonic.Stosd or Mnemonic.Xlatb => "string",
        _ when IsBranch(code) => "control",
        _ when code.Mnemonic().ToString().StartsWith("Set", StringComparison.Ordinal)
            || code.Mnemonic().ToString().StartsWith("Cmov", StringComparison.Ordinal) => "cond",
        _ => "move-misc",
    };
}
