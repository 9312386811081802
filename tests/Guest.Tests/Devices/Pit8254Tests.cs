using VmFt.Guest.Devices;
using VmFt.Guest.Io;
using Xunit;

namespace VmFt.Guest.Tests.Devices;

public sealed class Pit8254Tests
{
    private readonly ManualClock _clock = new();
    private readonly PortBus _bus = new();
    private readonly List<bool> _irq0 = [];
    private readonly Pit8254 _pit;

    public Pit8254Tests()
    {
        _pit = new Pit8254(_clock, _irq0.Add);
        _pit.Register(_bus);
    }

    private void Out(ushort port, byte value) => _bus.Write(port, 1, value);

    private byte In(ushort port) => (byte)_bus.Read(port, 1);

    /// <summary>First nanosecond at which tick <paramref name="tick"/> of the 1.193182 MHz clock has passed: ceil(tick * 10^9 / 1193182).</summary>
    private static ulong Ns(ulong tick) => (ulong)(((System.Numerics.BigInteger)tick * 1_000_000_000 + 1_193_181) / 1_193_182);

    private void Program(int channel, byte mode, ushort count)
    {
        Out(0x43, (byte)(channel << 6 | 0x30 | mode << 1));
        Out((ushort)(0x40 + channel), (byte)count);
        Out((ushort)(0x40 + channel), (byte)(count >> 8));
    }

    private ushort ReadCount(int channel)
    {
        byte lo = In((ushort)(0x40 + channel));
        byte hi = In((ushort)(0x40 + channel));
        return (ushort)(lo | hi << 8);
    }

    [Theory]
    [InlineData(0UL, 0UL)]
    [InlineData(1_000_000_000UL, 1_193_182UL)]
    [InlineData(838UL, 0UL)]       // one tick is 838.095 ns
    [InlineData(839UL, 1UL)]
    [InlineData(3_600_000_000_000_000UL, 4_295_455_200_000UL)] // a thousand hours: ns * 1193182 exceeds 64 bits
    public void TicksUseExactIntegerArithmetic(ulong ns, ulong ticks) => Assert.Equal(ticks, Pit8254.TicksAt(ns));

    [Fact]
    public void Mode2DeadlinesAreThePulseEdges()
    {
        Program(0, 2, 1193);
        Assert.Empty(_irq0); // OUT was already high at power-on and stays high in mode 2
        // OUT falls when the counter reaches 1 (tick 1192) and rises on reload (tick 1193).
        Assert.Equal(999_010UL, _pit.NextDeadline);
        Assert.Equal(Ns(1192), _pit.NextDeadline);
        _pit.Advance(_pit.NextDeadline);
        Assert.Equal([false], _irq0);
        Assert.Equal(999_848UL, _pit.NextDeadline);
        _pit.Advance(_pit.NextDeadline);
        Assert.Equal([false, true], _irq0);
        Assert.Equal(Ns(2 * 1193 - 1), _pit.NextDeadline);
    }

    [Fact]
    public void AdvancePastAWholePulseStillGivesARisingEdge()
    {
        Program(0, 2, 1000);
        _pit.Advance(Ns(1500)); // missed the pulse at ticks 999-1000
        Assert.Equal([false, true], _irq0);
        _pit.Advance(Ns(1600)); // nothing new
        Assert.Equal([false, true], _irq0);
    }

    [Fact]
    public void Mode3IsASquareWave()
    {
        Program(0, 3, 100);
        Assert.Equal(Ns(50), _pit.NextDeadline);
        _pit.Advance(Ns(50));
        Assert.Equal(Ns(100), _pit.NextDeadline);
        _pit.Advance(Ns(100));
        Assert.Equal([false, true], _irq0);
        // Odd count: high one tick longer than low.
        Program(0, 3, 5);
        Assert.Equal(Ns(100 + 3), _pit.NextDeadline);
    }

    [Fact]
    public void Mode0OutputRisesAtTerminalCountOnce()
    {
        _clock.Now = Ns(10);
        Out(0x43, 0x30);
        Assert.Equal([false], _irq0); // control word sets OUT low
        Out(0x40, 0x64);
        Assert.Equal(ulong.MaxValue, _pit.NextDeadline); // first byte of two: counting stopped
        Out(0x40, 0x00);
        Assert.Equal(Ns(110), _pit.NextDeadline);
        _pit.Advance(Ns(110));
        Assert.Equal([false, true], _irq0);
        Assert.Equal(ulong.MaxValue, _pit.NextDeadline);
    }

    [Fact]
    public void Mode4StrobesOneTickAtTerminalCount()
    {
        Program(0, 4, 10);
        Assert.Empty(_irq0); // OUT stays high until the strobe
        Assert.Equal(Ns(10), _pit.NextDeadline);
        _pit.Advance(Ns(10));
        Assert.Equal(Ns(11), _pit.NextDeadline);
        _pit.Advance(Ns(11));
        Assert.Equal([false, true], _irq0);
        Assert.Equal(ulong.MaxValue, _pit.NextDeadline);
    }

    [Fact]
    public void Mode1OneShotIsTriggeredByTheGate()
    {
        Out(0x61, 0x00);
        Program(2, 1, 50);
        Assert.Equal(0x20, In(0x61) & 0x20); // high until triggered
        _clock.Now = Ns(100);
        Out(0x61, 0x01);                     // trigger
        Assert.Equal(0x00, In(0x61) & 0x20);
        _clock.Now = Ns(149);
        Assert.Equal(0x00, In(0x61) & 0x20);
        _clock.Now = Ns(150);
        Assert.Equal(0x20, In(0x61) & 0x20);
    }

    [Fact]
    public void CounterReadsFollowTheClock()
    {
        Program(0, 2, 1000);
        _clock.Now = Ns(300);
        Assert.Equal(700, ReadCount(0));
        _clock.Now = Ns(1000 + 250);
        Assert.Equal(750, ReadCount(0));
    }

    [Fact]
    public void LatchFreezesTheValueUntilRead()
    {
        Program(0, 2, 1000);
        _clock.Now = Ns(100);
        Out(0x43, 0x00); // latch counter 0
        _clock.Now = Ns(400);
        Out(0x43, 0x00); // a second latch before reading is ignored
        Assert.Equal(900, ReadCount(0));
        Assert.Equal(600, ReadCount(0)); // latch released: live value
    }

    [Fact]
    public void ReadBackLatchesStatusThenCount()
    {
        Program(0, 2, 1000);
        _clock.Now = Ns(10);
        Out(0x43, 0xC2); // read-back: count and status of counter 0
        // OUT high, count loaded, low/high access, mode 2, binary.
        Assert.Equal(0xB4, In(0x40));
        Assert.Equal(990, ReadCount(0));
    }

    [Fact]
    public void StatusShowsNullCountAfterControlWord()
    {
        Out(0x43, 0xB0); // counter 2, lohi, mode 0
        Out(0x43, 0xE8); // read-back status of counter 2
        Assert.Equal(0x70, In(0x42)); // OUT low, null count, lohi, mode 0
    }

    [Fact]
    public void LowByteAndHighByteAccessModes()
    {
        Out(0x43, 0x14); // counter 0, low byte only, mode 2
        Out(0x40, 200);
        _clock.Now = Ns(50);
        Assert.Equal(150, In(0x40));
        Out(0x43, 0x24); // counter 0, high byte only, mode 2
        Out(0x40, 0x02); // count 0x200
        _clock.Now = Ns(50 + 0x100);
        Assert.Equal(0x01, In(0x40));
    }

    [Fact]
    public void BcdCounting()
    {
        Out(0x43, 0x35); // counter 0, lohi, mode 2, BCD
        Out(0x40, 0x00);
        Out(0x40, 0x10); // 1000 decimal
        _clock.Now = Ns(1);
        Assert.Equal(0x0999, ReadCount(0));
    }

    [Fact]
    public void Channel2GateAndOutputOnPort61()
    {
        Out(0x61, 0x01);          // gate 2 high, speaker off
        Program(2, 0, 100);
        Assert.Equal(0, In(0x61) & 0x20);
        _clock.Now = Ns(99);
        Assert.Equal(0, In(0x61) & 0x20);
        _clock.Now = Ns(100);
        Assert.Equal(0x20, In(0x61) & 0x20);
        Assert.Empty(_irq0); // channel 2 does not touch IRQ 0
    }

    [Fact]
    public void Channel2LowGateSuspendsMode0()
    {
        Out(0x61, 0x01);
        Program(2, 0, 100);
        _clock.Now = Ns(40);
        Out(0x61, 0x00);          // gate low at tick 40: counting stops
        _clock.Now = Ns(1000);
        Assert.Equal(60, ReadCount(2));
        Out(0x61, 0x01);          // resumes at tick 1000
        _clock.Now = Ns(1059);
        Assert.Equal(0, In(0x61) & 0x20);
        _clock.Now = Ns(1060);
        Assert.Equal(0x20, In(0x61) & 0x20);
    }

    [Fact]
    public void Port61KeepsWrittenBitsAndTogglesRefresh()
    {
        Out(0x61, 0x03);
        byte a = In(0x61);
        byte b = In(0x61);
        Assert.Equal(0x03, a & 0x0F);
        Assert.NotEqual(a & 0x10, b & 0x10);
        Assert.Equal(a & ~0x10, b & ~0x10);
    }

    [Fact]
    public void PitDrivesPicIrq0()
    {
        var picBus = new PortBus();
        var pic = new DualPic();
        pic.Register(picBus);
        foreach (var (port, value) in new (ushort, byte)[] { (0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01) })
            picBus.Write(port, 1, value);
        var pit = new Pit8254(_clock, level => pic.SetIrq(0, level));
        var bus = new PortBus();
        pit.Register(bus);
        bus.Write(0x43, 1, 0x34);
        bus.Write(0x40, 1, 0x9C);
        bus.Write(0x40, 1, 0x2E); // 11932: 100 Hz
        Assert.False(pic.InterruptOutput);
        pit.Advance(pit.NextDeadline); // falling edge
        Assert.False(pic.InterruptOutput);
        pit.Advance(pit.NextDeadline); // rising edge: IRQ 0
        Assert.True(pic.InterruptOutput);
        Assert.Equal(0x08, pic.Acknowledge());
    }

    [Fact]
    public void StateRoundTripsAndBehavesTheSame()
    {
        Out(0x61, 0x01);
        Program(0, 2, 1000);
        Program(2, 3, 300);
        _clock.Now = Ns(1500);
        _pit.Advance(_clock.Now);
        Out(0x43, 0x00);          // counter 0 latched, not yet read
        In(0x42);                 // counter 2's read flip-flop half way

        var copyIrq = new List<bool>();
        var copy = new Pit8254(_clock, copyIrq.Add);
        StateRoundTrip.Copy(_pit, copy);
        var copyBus = new PortBus();
        copy.Register(copyBus);
        Assert.Equal(_pit.NextDeadline, copy.NextDeadline);
        _clock.Now = Ns(2100);
        Assert.Equal(ReadCount(0), (ushort)(copyBus.Read(0x40, 1) | copyBus.Read(0x40, 1) << 8));
        Assert.Equal(In(0x42), (byte)copyBus.Read(0x42, 1));
        Assert.Equal(In(0x61), (byte)copyBus.Read(0x61, 1));
        _irq0.Clear();
        _pit.Advance(Ns(2999));
        copy.Advance(Ns(2999));
        Assert.Equal(_irq0, copyIrq);
        Assert.Equal(StateRoundTrip.Save(_pit), StateRoundTrip.Save(copy));
    }
}
