using Iced.Intel;
using VmFt.Guest.Processor;
using VmFt.Guest.Processor.X87;
using static Iced.Intel.AssemblerRegisters;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// FSTENV/FLDENV and FSAVE/FRSTOR in their four layouts (16/32-bit operand size, real/protected
/// mode; SDM vol. 1, figures 8-9 to 8-12), and FXSAVE/FXRSTOR: the fields land where the SDM draws
/// them, and a load of a stored image gives back the same state.
/// </summary>
public class X87StateImageTests
{
    private const uint Code = 0x1000, Values = 0x3000, ImageA = 0x4000, ImageB = 0x4400, Operand = 0x3100;
    private static readonly Float80[] Loaded = [new(0x8000_0000_0000_0000, 0x3FFF), new(0xC90F_DAA2_2168_C235, 0xC000), new(0x0000_0000_1234_5678, 0x0000)];

    private sealed record Run(CpuTestHarness H, uint FaddAddress, ushort FaddOpcode);

    /// <summary>
    /// Loads three values (one a denormal: tag "special"), frees one register, adds a double from
    /// memory (so that the pointers and opcode are set), then stores image A, scrambles the state,
    /// loads A back and stores image B.
    /// </summary>
    private static Run StoreLoadStore(bool real, bool op16, bool withRegisters)
    {
        var h = new CpuTestHarness();
        for (int i = 0; i < Loaded.Length; i++)
        {
            var bytes = new byte[10];
            Loaded[i].WriteTo(bytes);
            h.Memory.Load(Values + 16 * (uint)i, bytes);
        }
        h.Memory.Load(Operand, BitConverter.GetBytes(0.5));
        h.Memory.Load(Values + 0x80, [0x72, 0x0E]); // CW: PM UM OM ZM DM unmasked.. masks 0x32, PC 53, RC down
        int bitness = real ? 16 : 32;
        uint faddAt = 0;
        // 66h switches the operand size: the other layout.
        byte[] Prefixed(Code code, uint address)
        {
            var ins = Instruction.Create(code, new MemoryOperand(Register.None, (long)address, real ? 2 : 4));
            var w = new Bytes();
            Encoder.Create(bitness, w).Encode(ins, 0);
            return w.ToArray();
        }
        bool small = real ? !op16 : op16; // 14/94-byte forms
        var store = small ? (withRegisters ? Code_Fnsave94 : Code_Fnstenv14) : (withRegisters ? Code_Fnsave108 : Code_Fnstenv28);
        var load = small ? (withRegisters ? Iced.Intel.Code.Frstor_m94byte : Iced.Intel.Code.Fldenv_m14byte) : (withRegisters ? Iced.Intel.Code.Frstor_m108byte : Iced.Intel.Code.Fldenv_m28byte);
        var prologue = GuestAssembler.Assemble(bitness, Code, a =>
        {
            a.fninit();
            a.fldcw(__word_ptr[Values + 0x80]);
            a.fld(__tword_ptr[Values]);
            a.fld(__tword_ptr[Values + 16]);
            a.fld(__tword_ptr[Values + 32]);
            a.ffree(st1);
        });
        faddAt = Code + (uint)prologue.Length;
        var fadd = Prefixed(Iced.Intel.Code.Fadd_m64fp, Operand);
        var rest = new List<byte>();
        rest.AddRange(Prefixed(store, ImageA));
        rest.AddRange(GuestAssembler.Assemble(bitness, 0, a => { a.fninit(); a.fldpi(); a.fldz(); }));
        rest.AddRange(Prefixed(load, ImageA));
        rest.AddRange(Prefixed(store, ImageB));
        rest.Add(0xF4);
        byte[] code = [.. prologue, .. fadd, .. rest];
        if (real) h.LoadReal(Code, code);
        else h.LoadFlat(Code, 0, code);
        var exit = h.Cpu.Run(h.Cpu.Position + 50);
        Assert.Equal(CpuExit.Halted, exit);
        int esc = Array.IndexOf(fadd, (byte)0xDC);
        return new Run(h, faddAt, (ushort)(((fadd[esc] & 7) << 8) | fadd[esc + 1]));
    }

    private static readonly Code Code_Fnstenv14 = Iced.Intel.Code.Fnstenv_m14byte, Code_Fnstenv28 = Iced.Intel.Code.Fnstenv_m28byte;
    private static readonly Code Code_Fnsave94 = Iced.Intel.Code.Fnsave_m94byte, Code_Fnsave108 = Iced.Intel.Code.Fnsave_m108byte;

    private sealed class Bytes : CodeWriter
    {
        private readonly List<byte> _b = [];
        public override void WriteByte(byte value) => _b.Add(value);
        public byte[] ToArray() => [.. _b];
    }

    private static ushort U16(CpuTestHarness h, uint a) => (ushort)h.Memory.ReadUInt32(a);
    private static uint U32(CpuTestHarness h, uint a) => h.Memory.ReadUInt32(a);

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    [InlineData(false, false, true)]
    [InlineData(false, true, true)]
    [InlineData(true, false, true)]
    [InlineData(true, true, true)]
    public void ImagesHaveTheSdmLayoutAndRoundTrip(bool real, bool op16, bool withRegisters)
    {
        var (h, faddAt, fop) = StoreLoadStore(real, op16, withRegisters);
        bool small = real ? !op16 : op16;
        int envSize = small ? 14 : 28;
        int size = envSize + (withRegisters ? 80 : 0);
        var a = h.Memory.Ram.AsSpan((int)ImageA, size).ToArray();
        var b = h.Memory.Ram.AsSpan((int)ImageB, size).ToArray();
        Assert.Equal(Convert.ToHexString(a), Convert.ToHexString(b));

        // Stack: ST0 = denormal + 0.5 (R5, valid), ST1 = freed (R6), ST2 = 1.0 (R7); TOP 5.
        // Tags: R5 and R7 valid (00), R6 and the rest empty (11).
        ushort expectedTags = 0x33FF;
        ushort cw = (ushort)(0x0E72 | 0x40);
        uint linearFadd = faddAt, linearOperand = Operand; // segments have base 0 here
        if (small)
        {
            Assert.Equal(cw, U16(h, ImageA));
            Assert.Equal(5, (U16(h, ImageA + 2) >> 11) & 7);
            Assert.Equal(expectedTags, U16(h, ImageA + 4));
            if (real)
            {
                Assert.Equal((ushort)linearFadd, U16(h, ImageA + 6));
                Assert.Equal((ushort)(((linearFadd >> 16) << 12) | fop), U16(h, ImageA + 8));
                Assert.Equal((ushort)linearOperand, U16(h, ImageA + 10));
                Assert.Equal((ushort)((linearOperand >> 16) << 12), U16(h, ImageA + 12));
            }
            else
            {
                Assert.Equal((ushort)faddAt, U16(h, ImageA + 6));
                Assert.Equal(h.Cpu.GetSelector(SegmentRegister.CS), U16(h, ImageA + 8));
                Assert.Equal((ushort)Operand, U16(h, ImageA + 10));
                Assert.Equal(h.Cpu.GetSelector(SegmentRegister.DS), U16(h, ImageA + 12));
            }
        }
        else
        {
            Assert.Equal(0xFFFF_0000u | cw, U32(h, ImageA));
            Assert.Equal(5u, (U32(h, ImageA + 4) >> 11) & 7);
            Assert.Equal(0xFFFF_0000u | expectedTags, U32(h, ImageA + 8));
            if (real)
            {
                Assert.Equal(linearFadd & 0xFFFF, U32(h, ImageA + 12) & 0xFFFF);
                Assert.Equal(((linearFadd >> 16) << 12) | fop, U32(h, ImageA + 16));
                Assert.Equal(linearOperand & 0xFFFF, U32(h, ImageA + 20) & 0xFFFF);
                Assert.Equal((linearOperand >> 16) << 12, U32(h, ImageA + 24));
            }
            else
            {
                Assert.Equal(faddAt, U32(h, ImageA + 12));
                Assert.Equal(h.Cpu.GetSelector(SegmentRegister.CS) | ((uint)fop << 16), U32(h, ImageA + 16));
                Assert.Equal(Operand, U32(h, ImageA + 20));
                Assert.Equal(h.Cpu.GetSelector(SegmentRegister.DS), U32(h, ImageA + 24) & 0xFFFF);
            }
        }
        if (withRegisters)
        {
            // ST0 = denormal + 0.5 rounded (the FADD), ST1 the freed register's old value, ST2 1.0.
            Assert.Equal(Loaded[1], Float80.ReadFrom(a.AsSpan(envSize + 10)));
            Assert.Equal(Loaded[0], Float80.ReadFrom(a.AsSpan(envSize + 20)));
            // FSAVE ends with FNINIT, FRSTOR brings everything back: B was stored after the restore.
            Assert.Equal(0x037F, h.Cpu.FpuControlWord);
        }
        else
        {
            // FSTENV masks every exception afterwards.
            Assert.Equal(cw | 0x3F, h.Cpu.FpuControlWord);
        }
    }

    [Fact]
    public void FxsaveStoresTheAbridgedTagsAndFxrstorRestores()
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(32, Code, a =>
        {
            a.fninit();
            a.fld1();
            a.fldz();
            a.fldpi();
            a.ffree(st1);
            a.fxsave(__[ImageA]);
            a.fninit();
            a.fxrstor(__[ImageA]);
            a.fxsave(__[ImageB]);
            a.hlt();
        });
        h.Memory.Load(ImageA + 24, new byte[8]);
        h.LoadFlat(Code, 0, code);
        Assert.Equal(CpuExit.Halted, h.Cpu.Run(h.Cpu.Position + 20));
        var a = h.Memory.Ram.AsSpan((int)ImageA, 160).ToArray();
        var b = h.Memory.Ram.AsSpan((int)ImageB, 160).ToArray();
        Assert.Equal(Convert.ToHexString(a), Convert.ToHexString(b));
        Assert.Equal(0x037F, BitConverter.ToUInt16(a, 0));
        Assert.Equal(5, (BitConverter.ToUInt16(a, 2) >> 11) & 7);
        // Abridged tags by physical register: R5 (pi) and R7 (1.0) full, R6 (freed) empty.
        Assert.Equal(0xA0, a[4]);
        Assert.Equal(Float80.One, Float80.ReadFrom(a.AsSpan(32 + 2 * 16)));
        // No SSE here: MXCSR and the XMM area are not written.
        Assert.All(h.Memory.Ram.AsSpan((int)ImageA + 24, 8).ToArray(), x => Assert.Equal(0, x));
    }

    [Fact]
    public void FxsaveNeedsAlignmentAndCr0()
    {
        foreach (var (cr0Bits, offset, vector) in new[] { (0u, 8u, 13), (4u, 0u, 6), (8u, 0u, 7) })
        {
            var h = new CpuTestHarness();
            // Real-mode IVT: #GP, #UD, #NM handlers are HLTs at known places.
            foreach (var v in new[] { 6, 7, 13 })
            {
                h.Memory.Load((uint)v * 4, [(byte)(0x10 * v), 0x50, 0, 0]);
                h.Memory.Load(0x5000 + 0x10 * (uint)v, [0xF4]);
            }
            h.LoadReal(Code, GuestAssembler.Assemble(16, Code, a => { a.fxsave(__[ImageA + offset]); a.hlt(); }));
            h.Cpu.Cr0 |= cr0Bits;
            h.Cpu.Run(h.Cpu.Position + 5);
            Assert.Equal(0x5000u + 0x10 * (uint)vector + 1, h.Cpu.Eip);
        }
    }
}
