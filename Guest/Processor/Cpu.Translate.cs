using Iced.Intel;

namespace VmFt.Guest.Processor;

// Flattening Iced's Instruction into a DecodedInstruction: register operands become encoding
// indices, the memory operand becomes base/index/scale/displacement/segment, and branch targets
// become displacements so that the decoding does not depend on the linear address it was made at.
public sealed unsafe partial class Cpu
{
    /// <summary>Iced register to encoding index (general, segment, control, debug registers).</summary>
    private static readonly byte[] RegisterIndex = BuildRegisterIndex();

    private static byte[] BuildRegisterIndex()
    {
        var table = new byte[Enum.GetValues<Register>().Length];
        Array.Fill(table, DecodedInstruction.NoReg);
        for (int i = 0; i < 8; i++)
        {
            table[(int)Register.AL + i] = (byte)i; // AL CL DL BL AH CH DH BH
            table[(int)Register.AX + i] = (byte)i;
            table[(int)Register.EAX + i] = (byte)i;
            table[(int)Register.CR0 + i] = (byte)i;
            table[(int)Register.DR0 + i] = (byte)i;
            table[(int)Register.ST0 + i] = (byte)i;
        }
        for (int i = 0; i < 6; i++)
            table[(int)Register.ES + i] = (byte)i;
        return table;
    }

    private static bool Is16BitAddressRegister(Register r) => r is >= Register.AX and <= Register.DI;

    private void Translate(in Instruction ins, ref DecodedInstruction d, bool code32)
    {
        d = default;
        var code = ins.Code;
        d.Code = (ushort)code;
        d.Length = (byte)ins.Length;
        d.Decoded32 = code32;
        d.R0 = d.R1 = d.R2 = DecodedInstruction.NoReg;
        d.Base = d.Index = Zero;
        d.Segment = (byte)SegmentRegister.DS;

        var handler = Handlers[(int)code];
        d.Handler = handler != null ? handler : &Unimplemented;

        var opCode = code.ToOpCode();
        var flags = DecodedFlags.None;
        if (opCode.OperandSize == 32) flags |= DecodedFlags.OpSize32;
        bool addr32 = code32;
        if (ins.HasRepPrefix || ins.HasRepePrefix) flags |= DecodedFlags.Rep;
        if (ins.HasRepnePrefix) flags |= DecodedFlags.Repne;
        if (ins.HasLockPrefix) flags |= DecodedFlags.Lock;

        bool haveImm = false;
        int count = ins.OpCount;
        for (int i = 0; i < count; i++)
        {
            switch (ins.GetOpKind(i))
            {
                case OpKind.Register:
                    byte index = RegisterIndex[(int)ins.GetOpRegister(i)];
                    if (i == 0) d.R0 = index;
                    else if (i == 1) d.R1 = index;
                    else if (i == 2) d.R2 = index;
                    break;
                case OpKind.Memory:
                    flags |= DecodedFlags.Memory;
                    var b = ins.MemoryBase;
                    var x = ins.MemoryIndex;
                    if (b != Register.None) d.Base = RegisterIndex[(int)b];
                    if (x != Register.None) d.Index = RegisterIndex[(int)x];
                    d.Scale = ins.MemoryIndexScale switch { 1 => 0, 2 => 1, 4 => 2, _ => 3 };
                    d.Disp = ins.MemoryDisplacement32;
                    d.Segment = SegmentIndex(ins.MemorySegment);
                    addr32 = b != Register.None || x != Register.None
                        ? !(Is16BitAddressRegister(b) || Is16BitAddressRegister(x))
                        : ins.MemoryDisplSize != 2;
                    if (!addr32) d.Disp &= 0xFFFF;
                    break;
                case OpKind.MemorySegSI:
                case OpKind.MemorySegDI:
                    d.Segment = SegmentIndex(ins.MemorySegment);
                    addr32 = false;
                    break;
                case OpKind.MemorySegESI:
                case OpKind.MemorySegEDI:
                    d.Segment = SegmentIndex(ins.MemorySegment);
                    addr32 = true;
                    break;
                case OpKind.MemoryESDI:
                    addr32 = false;
                    break;
                case OpKind.MemoryESEDI:
                    addr32 = true;
                    break;
                case OpKind.NearBranch16:
                case OpKind.NearBranch32:
                    // Kept relative to the next instruction; the handler adds it to EIP.
                    d.Imm = (uint)(ins.NearBranchTarget - ins.NextIP);
                    break;
                case OpKind.FarBranch16:
                    d.Imm = ins.FarBranch16;
                    d.Imm2 = ins.FarBranchSelector;
                    break;
                case OpKind.FarBranch32:
                    d.Imm = ins.FarBranch32;
                    d.Imm2 = ins.FarBranchSelector;
                    break;
                case OpKind.Immediate8:
                case OpKind.Immediate16:
                case OpKind.Immediate32:
                case OpKind.Immediate8to16:
                case OpKind.Immediate8to32:
                case OpKind.Immediate8_2nd:
                    if (!haveImm)
                    {
                        d.Imm = (uint)ins.GetImmediate(i);
                        haveImm = true;
                    }
                    else
                    {
                        d.Imm2 = (uint)ins.GetImmediate(i);
                    }
                    break;
            }
        }
        // Instructions without explicit memory operands that still address memory by size
        // (LOOP/JCXZ count registers, XLAT, string ops) get theirs from Iced's opcode info.
        if (opCode.AddressSize == 32) addr32 = true;
        else if (opCode.AddressSize == 16) addr32 = false;
        if (addr32) flags |= DecodedFlags.AddrSize32;
        d.Flags = flags;
        if (X87Forms[(int)code]) d.Imm2 = X87Opcode();
        else if (code == Code.INVALID && StartsWithX87Escape()) d.Handler = &X87Undefined; // an undefined escape: #NM under EM/TS, else #UD
    }

    private static byte SegmentIndex(Register r) => r switch
    {
        Register.ES => 0,
        Register.CS => 1,
        Register.SS => 2,
        Register.DS => 3,
        Register.FS => 4,
        Register.GS => 5,
        _ => 3,
    };

    /// <summary>The handler for forms no family claims: #UD, logged once per address with the bytes.</summary>
    private static void Unimplemented(Cpu cpu, ref DecodedInstruction d)
    {
        cpu.ReportUnimplemented(ref d);
        throw new CpuFault(ExceptionVectors.InvalidOpcode, 0, false);
    }

    private void ReportUnimplemented(ref DecodedInstruction d)
    {
        uint linear = S[(int)SegmentRegister.CS].Base + _startEip;
        if (Log is null || !_reportedUnimplemented.Add(linear)) return;
        Span<byte> bytes = stackalloc byte[15];
        int n = Math.Min((int)d.Length, 15);
        if (n == 0) n = 1;
        string hex = TryReadLinear(linear, bytes[..n]) ? Convert.ToHexString(bytes[..n]) : "??";
        string what = d.Code == (ushort)Code.INVALID ? "undecodable instruction" : $"unimplemented instruction {(Code)d.Code}";
        Log($"{what} at {S[(int)SegmentRegister.CS].Selector:X4}:{_startEip:X8} (linear 0x{linear:X8}), bytes {hex}: raising #UD");
    }
}
