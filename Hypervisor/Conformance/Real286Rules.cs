namespace VmFt.Hypervisor.Conformance;

/// <summary>
/// The documented ways an i686 in real mode may legitimately differ from the 80286 the vectors were
/// captured on. Every rule carries its source; nothing is here because an implementation fails it.
/// </summary>
public static class Real286Rules
{
    public const ushort CF = 1 << 0, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, OF = 1 << 11;
    private const ushort Arithmetic = CF | PF | AF | ZF | SF | OF;

    /// <summary>
    /// FLAGS bits 12-15: the 286 in real mode forces IOPL, NT and bit 15 to 0 in everything it
    /// stores or loads (PUSHF, POPF, IRET, interrupt frames); a 386+ keeps IOPL and NT writable in
    /// real mode (SDM vol. 1, 3.4.3.3; 80286 PRM, POPF: "bits 12-15 ... in real mode").
    /// Applied to FLAGS and to every FLAGS image pushed on the stack.
    /// </summary>
    public const ushort FlagsHighNibble = 0xF000;

    /// <summary>The rules for one vector.</summary>
    public static ComparisonRules For(SingleStepTest test)
    {
        var insn = DecodedOpcode.Of(test.Bytes);
        string? excluded = Excluded(insn) ?? TooLongFor286(test) ?? StringOverrun(insn, test);
        ushort undefined = UndefinedFlags(insn, test);
        return new ComparisonRules((ushort)(undefined | FlagsHighNibble), excluded, test.ExceptionVector == 13 && insn.TouchesStack);
    }

    /// <summary>Whole vectors that an i686 cannot reproduce because the opcode means something else there.</summary>
    private static string? Excluded(DecodedOpcode insn)
    {
        // 8C/8E with reg 4 or 5: the 286 has four segment registers and raises #UD (interrupt 6) for
        // reg fields 4-7; the 386 added FS (4) and GS (5), so MOV r/m,FS/GS and MOV FS/GS,r/m are valid
        // on an i686 (SDM vol. 2, MOV, "Sreg" encodings). Fields 6 and 7 are #UD on both and are compared.
        if (insn.Opcode is 0x8C or 0x8E && insn.Reg is 4 or 5)
            return "8C/8E reg 4-5 is #UD on the 286 but MOV to/from FS/GS on a 386+";
        // LOCK: the 286 accepts it before any instruction and just asserts LOCK# (80286 PRM, LOCK);
        // a 386+ raises #UD unless the instruction is a lockable read-modify-write with a memory
        // destination (SDM vol. 2, LOCK: "An undefined opcode exception will also be generated if
        // the LOCK prefix is used with any instruction not in the above list").
        if (insn.Lock && !insn.LockableOn386)
            return "LOCK before a non-lockable form: ignored by the 286, #UD on a 386+";
        // ESC (D8-DF): these vectors come from a 286 without a coprocessor, where an ESC opcode with
        // MSW.EM clear only computes its effective address and goes on (80286 PRM, ESC: "if no
        // 80287 is present ... the ESC is treated as a NOP"). The i686 defined here executes them on
        // its x87, so the two processors are not comparable on these opcodes.
        if (insn.Opcode is >= 0xD8 and <= 0xDF)
            return "ESC without a coprocessor: a no-op on this 286, an x87 instruction on an i686";
        return null;
    }

    /// <summary>
    /// A word string instruction whose access wraps at offset FFFF: the 286 has already stepped
    /// SI/DI when it raises interrupt 13, while a 386+ reports every fault with the registers as they
    /// were before the instruction, so that it can be restarted (i386 PRM and SDM vol. 3, 6.5:
    /// "faults ... the state is restored to what it was prior to the beginning of execution").
    /// </summary>
    private static string? StringOverrun(DecodedOpcode insn, SingleStepTest test) =>
        test.ExceptionVector == 13 && insn.Opcode is 0x6D or 0x6F or 0xA5 or 0xA7 or 0xAB or 0xAD or 0xAF
            ? "word string access wrapping at FFFF: the 286 steps SI/DI before interrupt 13, a 386+ restarts cleanly"
            : null;

    /// <summary>
    /// The 286 limits an instruction (prefixes included) to 10 bytes and raises interrupt 13 beyond
    /// (80286 PRM, "instruction length limit of 10 bytes"); the 386 raised the limit to 15 (i386 PRM,
    /// differences from the 80286), so an i686 executes such an instruction normally.
    /// </summary>
    private static string? TooLongFor286(SingleStepTest test) =>
        test.Bytes.Length - 1 > 10 && test.ExceptionVector == 13
            ? "longer than 10 bytes: interrupt 13 on the 286, executed by a 386+ (limit 15)"
            : null;

    /// <summary>
    /// Flags the Intel manuals call undefined after the instruction (SDM vol. 2, "Flags Affected" of
    /// each instruction). An undefined flag may hold anything, so its value is not compared.
    /// </summary>
    private static ushort UndefinedFlags(DecodedOpcode insn, SingleStepTest test)
    {
        switch (insn.Opcode)
        {
            // AND, OR, XOR, TEST: "The state of the AF flag is undefined."
            case >= 0x08 and <= 0x0D:
            case >= 0x20 and <= 0x25:
            case >= 0x30 and <= 0x35:
            case 0x84 or 0x85 or 0xA8 or 0xA9:
                return AF;
            case 0x80 or 0x81 or 0x82 or 0x83 when insn.Reg is 1 or 4 or 6:
                return AF;
            // DAA, DAS: "The OF flag is undefined."
            case 0x27 or 0x2F:
                return OF;
            // AAA, AAS: "The OF, SF, ZF, and PF flags are undefined."
            case 0x37 or 0x3F:
                return OF | SF | ZF | PF;
            // IMUL r,r/m,imm: "The SF, ZF, AF, and PF flags are undefined."
            case 0x69 or 0x6B:
                return SF | ZF | AF | PF;
            // AAM, AAD: "The OF, AF, and CF flags are undefined."
            case 0xD4 or 0xD5:
                return OF | AF | CF;
            case 0xF6 or 0xF7:
                return insn.Reg switch
                {
                    0 or 1 => AF,                     // TEST (F6/F7 /1 is the undocumented alias of /0 on both)
                    4 or 5 => SF | ZF | AF | PF,      // MUL, IMUL
                    6 or 7 => Arithmetic,             // DIV, IDIV: all six undefined
                    _ => 0,
                };
            case 0xC0 or 0xC1 or 0xD0 or 0xD1 or 0xD2 or 0xD3:
                return ShiftUndefined(insn, test);
            default:
                return 0;
        }
    }

    /// <summary>
    /// Shifts and rotates, from the SDM's SAL/SAR/SHL/SHR and RCL/RCR/ROL/ROR entries. The count is
    /// masked to 5 bits on the 286 and later alike (SDM vol. 2, SAL/SAR/SHL/SHR, "IA-32 Architecture
    /// Compatibility": only the 8086 does not mask), and a masked count of 0 affects no flag.
    /// </summary>
    private static ushort ShiftUndefined(DecodedOpcode insn, SingleStepTest test)
    {
        int count = insn.Opcode switch
        {
            0xD0 or 0xD1 => 1,
            0xD2 or 0xD3 => test.Initial(RealModeRegister.Cx) & 0xFF,
            _ => test.Bytes[^2], // C0/C1: the imm8 is the last byte before the HLT that ends every vector
        } & 0x1F;
        if (count == 0) return 0;
        int width = (insn.Opcode & 1) == 0 ? 8 : 16;
        ushort undefined = count == 1 ? (ushort)0 : OF; // "The OF flag is affected only on 1-bit shifts/rotates"
        if (insn.Reg >= 4)
        {
            undefined |= AF; // shifts: "For a non-zero count, the AF flag is undefined."
            // SHL/SHR (and SAL, /4 and its alias /6): "if the count is greater than or equal to the
            // size of the destination operand, the [CF] flag is undefined." SAR is not included.
            if (insn.Reg != 7 && count >= width) undefined |= CF;
        }
        return undefined;
    }
}
