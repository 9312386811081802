using Iced.Intel;
using VmFt.Guest.Devices;
using VmFt.Guest.Memory;
using VmFt.Guest.Processor;
using VmFt.Guest.Processor.X87;
using static Iced.Intel.AssemblerRegisters;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// The x87 exception machinery: #NM per CR0.EM/MP/TS, unmasked exceptions pending until the next
/// waiting instruction, #MF with CR0.NE set, FERR#/IRQ 13/IGNNE# with NE clear, and the reset and
/// FNINIT states.
/// </summary>
public class X87ExceptionTests
{
    private const uint Code = 0x1000, Data = 0x3000, NmHandler = 0x5000, MfHandler = 0x5100, Irq13Handler = 0x5200;
    private const uint CR0_MP = 2, CR0_EM = 4, CR0_TS = 8, CR0_NE = 0x20;

    /// <summary>Real mode with IVT entries for #NM and #MF pointing at HLT.</summary>
    private static CpuTestHarness RealMode(Action<Assembler> body, uint cr0Bits = 0)
    {
        var h = new CpuTestHarness();
        var code = GuestAssembler.Assemble(16, Code, body);
        h.LoadReal(Code, code);
        SetVector(h.Memory, 7, NmHandler);
        SetVector(h.Memory, 16, MfHandler);
        h.Memory.Load(NmHandler, [0xF4]);
        h.Memory.Load(MfHandler, [0xF4]);
        h.Cpu.Cr0 = (h.Cpu.Cr0 & ~(CR0_MP | CR0_EM | CR0_TS | CR0_NE)) | cr0Bits;
        return h;
    }

    private static void SetVector(PhysicalMemory m, int vector, uint handler) =>
        m.Load((uint)vector * 4, [(byte)(handler & 0xFF), (byte)(handler >> 8), 0, 0]);

    /// <summary>Runs until HLT or the limit; returns the offset (within segment 0) of the HLT executed, or null.</summary>
    private static uint? RunToHalt(CpuTestHarness h, int limit = 100)
    {
        var exit = h.Cpu.Run(h.Cpu.Position + (ulong)limit);
        return exit == CpuExit.Halted ? h.Cpu.Eip - 1 : null;
    }

    // SDM vol. 3, "Action Taken By x87 FPU Instructions for Different Combinations of EM, MP, and TS":
    // EM MP TS -> x87 instruction, WAIT.
    [Theory]
    [InlineData(0, 0, 0, false, false)]
    [InlineData(0, 0, 1, true, false)]
    [InlineData(0, 1, 0, false, false)]
    [InlineData(0, 1, 1, true, true)]
    [InlineData(1, 0, 0, true, false)]
    [InlineData(1, 0, 1, true, false)]
    [InlineData(1, 1, 0, true, false)]
    [InlineData(1, 1, 1, true, true)]
    public void DeviceNotAvailableFollowsTheSdmTable(int em, int mp, int ts, bool x87Faults, bool waitFaults)
    {
        uint bits = (em != 0 ? CR0_EM : 0) | (mp != 0 ? CR0_MP : 0) | (ts != 0 ? CR0_TS : 0);
        var x87 = RealMode(a => { a.fld1(); a.hlt(); }, bits);
        Assert.Equal(x87Faults ? NmHandler : Code + 2, RunToHalt(x87));
        var wait = RealMode(a => { a.wait(); a.hlt(); }, bits);
        Assert.Equal(waitFaults ? NmHandler : Code + 1, RunToHalt(wait));
        // The no-wait control instructions are x87 instructions too (FNINIT, FNSTSW).
        var fninit = RealMode(a => { a.fninit(); a.hlt(); }, bits);
        Assert.Equal(x87Faults ? NmHandler : Code + 2, RunToHalt(fninit));
    }

    [Fact]
    public void UndefinedEscapeOpcodesAreNmUnderEmOrTsAndOtherwiseUd()
    {
        const uint UdHandler = 0x5400;
        foreach (var (bits, expected) in new[] { (0u, UdHandler), (CR0_EM, NmHandler), (CR0_TS, NmHandler) })
        {
            var h = new CpuTestHarness();
            h.LoadReal(Code, [0xD9, 0xD1, 0xF4]); // D9 D1: no instruction on the P6 (nor on any x87)
            SetVector(h.Memory, 6, UdHandler);
            SetVector(h.Memory, 7, NmHandler);
            h.Memory.Load(UdHandler, [0xF4]);
            h.Memory.Load(NmHandler, [0xF4]);
            h.Cpu.Cr0 |= bits;
            Assert.Equal(expected, RunToHalt(h));
            Assert.Empty(h.Log); // a defined outcome, not an unimplemented instruction
        }
    }

    /// <summary>FNINIT; unmask ZE; 1/0: ZE is pending, ES and B set, nothing raised yet.</summary>
    private static void DivideByZeroUnmasked(Assembler a)
    {
        a.fninit();
        a.fldcw(__word_ptr[Data]);
        a.fldz();
        a.fld1();
        a.fdivrp(st1, st0); // ST(1) = ST(0) / ST(1) = 1 / 0
    }

    private static void WriteWord(CpuTestHarness h, uint address, ushort value) => h.Memory.Load(address, [(byte)value, (byte)(value >> 8)]);

    [Fact]
    public void UnmaskedExceptionIsPendingUntilTheNextWaitingInstructionThenMathFault()
    {
        uint fwaitAt = 0;
        var h = RealMode(a =>
        {
            DivideByZeroUnmasked(a);
            a.fnstsw(ax);           // no-wait: runs with the exception pending
            a.mov(__word_ptr[Data + 2], ax);
            a.fnstcw(__word_ptr[Data + 4]);
            var l = a.CreateLabel();
            a.Label(ref l);
            a.wait();
            a.hlt();
        }, CR0_NE);
        WriteWord(h, Data, 0x037B); // ZE unmasked
        var code = GuestAssembler.Assemble(16, Code, a => DivideByZeroUnmasked(a));
        fwaitAt = Code + (uint)code.Length + 2 + 3 + 4; // fnstsw ax (2), mov [m],ax (3), fnstcw [m] (4)
        Assert.Equal(MfHandler, RunToHalt(h));
        ushort sw = (ushort)h.Memory.ReadUInt32(Data + 2);
        Assert.Equal(4, sw & 0x3F); // ZE
        Assert.True((sw & 0x8080) == 0x8080, $"ES and B should be set: {sw:X4}");
        // #MF is a fault on the waiting instruction: the return address is the FWAIT itself.
        ushort returnIp = (ushort)h.Memory.ReadUInt32(0x8000 - 6);
        Assert.Equal(fwaitAt, returnIp);
        Assert.Equal(0x037B, (ushort)h.Memory.ReadUInt32(Data + 4));
    }

    [Fact]
    public void AnyWaitingX87InstructionRaisesThePendingException()
    {
        var h = RealMode(a =>
        {
            DivideByZeroUnmasked(a);
            a.fld1();   // waiting: #MF before it runs
            a.hlt();
        }, CR0_NE);
        WriteWord(h, Data, 0x037B);
        Assert.Equal(MfHandler, RunToHalt(h));
        // An unmasked ZE stores nothing and pops nothing: 0 and 1 stay (TOP 6), and FLD1 did not run.
        Assert.Equal(6, h.Cpu.FpuTop);
    }

    [Fact]
    public void MaskedExceptionsRaiseNothing()
    {
        var h = RealMode(a =>
        {
            DivideByZeroUnmasked(a);
            a.wait();
            a.fnstsw(ax);
            a.hlt();
        }, CR0_NE);
        WriteWord(h, Data, 0x037F);
        uint? at = RunToHalt(h);
        Assert.NotEqual(MfHandler, at);
        Assert.Equal(0u, h.Cpu.Eax & 0x80);
        Assert.Equal(4u, h.Cpu.Eax & 0x3F); // ZE
        Assert.Equal(Float80.PositiveInfinity, h.Cpu.GetFpuStack(0));
    }

    [Fact]
    public void FnclexClearsThePendingExceptionAndFerr()
    {
        var ferr = new List<bool>();
        var h = RealMode(a =>
        {
            DivideByZeroUnmasked(a);
            a.fnclex();
            a.wait();
            a.hlt();
        });
        h.Cpu.FerrChanged = ferr.Add;
        WriteWord(h, Data, 0x037B);
        Assert.NotEqual(MfHandler, RunToHalt(h));
        Assert.Equal([true, false], ferr);
        Assert.Equal(0, h.Cpu.FpuStatusWord & 0x80FF);
    }

    [Fact]
    public void WithNeClearAWaitingInstructionFreezesUntilAnInterruptAndIgnneLetsItGoOn()
    {
        var ferr = new List<bool>();
        var h = RealMode(a =>
        {
            a.sti();
            DivideByZeroUnmasked(a);
            a.wait();
            a.hlt();
        });
        const uint IretHandler = 0x5300;
        h.Memory.Load(IretHandler, [0xCF]);
        SetVector(h.Memory, h.NextVector, IretHandler);
        h.Cpu.FerrChanged = ferr.Add;
        WriteWord(h, Data, 0x037B);
        var exit = h.Cpu.Run(h.Cpu.Position + 100);
        // FERR# went up when FDIVRP completed; the FWAIT froze: halted at the FWAIT, not retired.
        Assert.Equal([true], ferr);
        Assert.Equal(CpuExit.Halted, exit);
        uint fwait = Code + 1 + (uint)GuestAssembler.Assemble(16, Code, a => DivideByZeroUnmasked(a)).Length;
        Assert.Equal(fwait, h.Cpu.Eip);
        Assert.True(h.Cpu.FerrAsserted);
        // Still frozen without an interrupt.
        Assert.Equal(CpuExit.Halted, h.Cpu.Run(h.Cpu.Position + 10));
        Assert.Equal(fwait, h.Cpu.Eip);
        // The interrupt FERR# asks for arrives, its handler returns; with IGNNE# asserted (what a
        // PC's port 0xF0 does) the FWAIT then goes on despite the error.
        h.Cpu.IgnoreNumericError = true;
        h.Cpu.InterruptLine = true;
        h.Cpu.Run(h.Cpu.Position); // takes the interrupt, runs nothing
        h.Cpu.InterruptLine = false;
        Assert.Equal(IretHandler, h.Cpu.Eip);
        Assert.Equal(fwait + 1, RunToHalt(h));
    }

    [Fact]
    public void Irq13ThroughThePicAndPort0xF0OnAPcCompatibleBoard()
    {
        // A small board: a DualPic (slave IRQ 5 = IRQ 13), the FERR# latch, and real-mode code.
        var board = new MiniBoard();
        var cpu = board.Cpu;
        // IRQ 13 with the slave at vector 0x70: vector 0x75.
        var handler = GuestAssembler.Assemble(16, Irq13Handler, a =>
        {
            a.mov(al, 0);
            a.@out(0xF0, al);             // clear the latch, assert IGNNE#
            a.fnclex();                    // the error is handled: FERR# and IGNNE# go away
            a.mov(al, 0x20);
            a.@out(0xA0, al);              // EOI to the slave
            a.@out(0x20, al);              // and the master
            a.inc(__word_ptr[Data + 8]);   // count the interrupts
            a.iret();
        });
        board.Memory.Load(Irq13Handler, handler);
        board.Memory.Load(0x75 * 4, [(byte)(Irq13Handler & 0xFF), (byte)(Irq13Handler >> 8), 0, 0]);
        var code = GuestAssembler.Assemble(16, Code, a =>
        {
            // PIC: master at 0x08 (cascade on IRQ 2), slave at 0x70, everything unmasked.
            foreach (var (port, value) in new (ushort, byte)[] { (0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01), (0x21, 0x00), (0xA1, 0x00) })
            {
                a.mov(al, value);
                a.@out((byte)port, al);
            }
            a.sti();
            DivideByZeroUnmasked(a);
            a.wait();                 // IRQ 13 is taken here; the FWAIT runs again after the IRET
            a.fld1();
            a.fistp(__word_ptr[Data + 10]);
            a.hlt();
        });
        board.Memory.Load(Code, code);
        board.Memory.Load(Data, [0x7B, 0x03]);
        foreach (var sr in Enum.GetValues<SegmentRegister>()) cpu.LoadRealModeSegment(sr, 0);
        cpu.Eip = Code;
        cpu.Esp = 0x8000;
        var exit = cpu.Run(cpu.Position + 1000);
        Assert.Equal(CpuExit.Halted, exit);
        Assert.Equal(1, (ushort)board.Memory.ReadUInt32(Data + 8));  // one IRQ 13
        Assert.Equal(1, (ushort)board.Memory.ReadUInt32(Data + 10)); // and the code went on
        Assert.False(cpu.FerrAsserted);
        Assert.False(board.Latch.Irq13);
        Assert.False(cpu.IgnoreNumericError);
    }

    private sealed class MiniBoard : ICpuBus
    {
        public PhysicalMemory Memory { get; } = new(1024 * 1024);
        public Cpu Cpu { get; }
        public DualPic Pic { get; }
        public FpuErrorLatch Latch { get; }
        private readonly Io.PortBus _ports = new();

        public MiniBoard()
        {
            Cpu = new Cpu(Memory, this);
            Pic = new DualPic(level => Cpu.InterruptLine = level);
            Latch = new FpuErrorLatch(level => Pic.SetIrq(13, level), level => Cpu.IgnoreNumericError = level);
            Cpu.FerrChanged = Latch.FerrChanged;
            Pic.Register(_ports);
            Latch.Register(_ports);
        }

        public uint PortRead(ushort port, int size) => _ports.Read(port, size);
        public void PortWrite(ushort port, int size, uint value) => _ports.Write(port, size, value);
        public ulong ReadTimeStampCounter(ulong position) => position;
        public byte AcknowledgeInterrupt() => Pic.Acknowledge();
    }

    [Fact]
    public void ResetAndFninitStatesDiffer()
    {
        var h = new CpuTestHarness();
        var cpu = h.Cpu;
        // Power-on / RESET (SDM vol. 3, table 9-1): CW 0040h, every tag "zero" (5555h), registers +0.
        Assert.Equal(0x0040, cpu.FpuControlWord);
        Assert.Equal(0, cpu.FpuStatusWord);
        Assert.Equal(0x5555, cpu.FpuTagWord);
        for (int i = 0; i < 8; i++) Assert.Equal(Float80.Zero, cpu.GetFpuRegister(i));
        // (FLD1 right after RESET would overflow the stack, unmasked: every tag is "zero" and CW 0040h masks nothing.)
        h.LoadReal(Code, GuestAssembler.Assemble(16, Code, a => { a.fninit(); a.fld1(); a.fninit(); a.hlt(); }));
        cpu.Run(cpu.Position + 10);
        // FNINIT: CW 037Fh, all empty (FFFFh), and the registers keep their contents.
        Assert.Equal(0x037F, cpu.FpuControlWord);
        Assert.Equal(0xFFFF, cpu.FpuTagWord);
        Assert.Equal(Float80.One, cpu.GetFpuRegister(7));
        Assert.Equal((0, 0u), cpu.FpuInstructionPointer);
    }

    [Fact]
    public void InitKeepsTheX87StateAndResetDoesNot()
    {
        var h = new CpuTestHarness();
        var cpu = h.Cpu;
        h.LoadReal(Code, GuestAssembler.Assemble(16, Code, a => { a.fninit(); a.fldpi(); a.fld1(); a.hlt(); }));
        cpu.Run(cpu.Position + 10);
        var before = (cpu.FpuControlWord, cpu.FpuStatusWord, cpu.FpuTagWord, cpu.FpuInstructionPointer, cpu.FpuOpcode, cpu.GetFpuStack(0), cpu.GetFpuStack(1));
        cpu.Init();
        Assert.Equal(0xFFF0u, cpu.Eip);
        Assert.Equal(before, (cpu.FpuControlWord, cpu.FpuStatusWord, cpu.FpuTagWord, cpu.FpuInstructionPointer, cpu.FpuOpcode, cpu.GetFpuStack(0), cpu.GetFpuStack(1)));
        cpu.Reset();
        Assert.Equal(0x0040, cpu.FpuControlWord);
        Assert.Equal(0x5555, cpu.FpuTagWord);
        Assert.Equal(Float80.Zero, cpu.GetFpuStack(0));
    }

    [Fact]
    public void CpuidReportsTheFpuAndFxsrAndCr0EtStaysSet()
    {
        var h = new CpuTestHarness();
        h.LoadReal(Code, GuestAssembler.Assemble(16, Code, a =>
        {
            a.mov(eax, 1);
            a.cpuid();
            a.mov(ebx, cr0);
            a.and(ebx, ~0x10);
            a.mov(cr0, ebx);   // try to clear ET
            a.mov(ecx, cr0);
            a.hlt();
        }));
        h.Cpu.Run(h.Cpu.Position + 20);
        Assert.Equal(1u, h.Cpu.Edx & 1);               // FPU
        Assert.Equal(1u << 24, h.Cpu.Edx & (1u << 24)); // FXSR
        Assert.Equal(0x10u, h.Cpu.Ecx & 0x10);          // ET is hard-wired to 1
    }
}
