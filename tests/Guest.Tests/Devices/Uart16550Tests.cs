using VmFt.Guest.Devices;
using VmFt.Guest.Io;
using Xunit;

namespace VmFt.Guest.Tests.Devices;

public sealed class Uart16550Tests
{
    private const ushort Com1 = 0x3F8;
    private const ushort Thr = Com1, Ier = Com1 + 1, Iir = Com1 + 2, Lcr = Com1 + 3, Mcr = Com1 + 4, Lsr = Com1 + 5, Msr = Com1 + 6, Scr = Com1 + 7;

    private readonly ManualClock _clock = new();
    private readonly PortBus _bus = new();
    private readonly List<bool> _irq = [];
    private readonly List<byte> _sent = [];
    private readonly Uart16550 _uart;

    public Uart16550Tests()
    {
        _uart = new Uart16550(Com1, _clock, _irq.Add, _sent.Add);
        _uart.Register(_bus);
    }

    private void Out(ushort port, byte value) => _bus.Write(port, 1, value);

    private byte In(ushort port) => (byte)_bus.Read(port, 1);

    private bool IrqLine => _irq.Count > 0 && _irq[^1];

    [Fact]
    public void ResetState()
    {
        Assert.Equal(0x01, In(Iir));
        Assert.Equal(0x60, In(Lsr));
        Assert.Equal(0xB0, In(Msr)); // DCD, DSR, CTS asserted
    }

    [Fact]
    public void TransmitGoesToTheSinkAtOnce()
    {
        Out(Thr, (byte)'h');
        Out(Thr, (byte)'i');
        Assert.Equal("hi"u8.ToArray(), _sent);
        Assert.Equal(0x60, In(Lsr) & 0x60);
    }

    [Fact]
    public void DivisorLatchSharesThePortsWhenDlabIsSet()
    {
        Out(Lcr, 0x80);
        Out(Com1, 0x01);
        Out(Com1 + 1, 0x02);
        Assert.Equal(0x01, In(Com1));
        Assert.Equal(0x02, In(Com1 + 1));
        Out(Lcr, 0x03);
        Assert.Equal(0x00, In(Ier));
        Out(Thr, 0x55);
        Assert.Equal([0x55], _sent);
        Assert.Equal(0x03, In(Lcr));
        Out(Scr, 0x5A);
        Assert.Equal(0x5A, In(Scr));
    }

    [Fact]
    public void LoopbackReturnsTransmittedBytesAndModemLines()
    {
        Out(Mcr, 0x10);
        Assert.Equal(0x00, In(Msr) & 0xF0);
        Out(Thr, 0x41);
        Assert.Empty(_sent);
        Assert.Equal(0x01, In(Lsr) & 0x01);
        Assert.Equal(0x41, In(Thr));
        Assert.Equal(0x00, In(Lsr) & 0x01);
        // RTS -> CTS, DTR -> DSR, OUT1 -> RI, OUT2 -> DCD
        Out(Mcr, 0x1F);
        Assert.Equal(0xF0, In(Msr) & 0xF0);
        Out(Mcr, 0x10 | 0x02);
        byte msr = In(Msr);
        Assert.Equal(0x10, msr & 0xF0);
        Assert.Equal(0x0E, msr & 0x0F); // DDSR, TERI, DDCD changed; CTS stayed
        // External input is cut off in loopback.
        _uart.Receive(0x99);
        Assert.Equal(0x00, In(Lsr) & 0x01);
    }

    [Fact]
    public void ReceivedByteRaisesInterruptOnlyWithOut2()
    {
        Out(Ier, 0x01);
        _uart.Receive(0x31);
        Assert.Equal(0x04, In(Iir));
        Assert.False(IrqLine);
        Out(Mcr, 0x08);
        Assert.True(IrqLine);
        Assert.Equal(0x31, In(Thr));
        Assert.False(IrqLine);
        Assert.Equal(0x01, In(Iir));
    }

    [Fact]
    public void ThreInterruptSemantics()
    {
        Out(Mcr, 0x08);
        Out(Ier, 0x02); // enabling it with THR empty raises it
        Assert.True(IrqLine);
        Assert.Equal(0x02, In(Iir)); // reading IIR with THRE reported clears it
        Assert.False(IrqLine);
        Assert.Equal(0x01, In(Iir));
        Out(Thr, 0x20); // THR empties again at once: raised again
        Assert.True(IrqLine);
        Out(Ier, 0x00);
        Assert.False(IrqLine);
        Assert.Equal(0x01, In(Iir));
        Out(Ier, 0x02); // newly set while empty: raised even though it was pending before
        Assert.Equal(0x02, In(Iir));
        Out(Ier, 0x02); // not newly set: stays cleared
        Assert.Equal(0x01, In(Iir));
    }

    [Fact]
    public void InterruptIdentificationPriorities()
    {
        Out(Ier, 0x0F);
        Out(Mcr, 0x08 | 0x10);       // loopback so that modem lines can be changed
        Out(Mcr, 0x08 | 0x10 | 0x02); // RTS -> CTS: modem status change
        Assert.Equal(0x02, In(Iir));  // THRE, raised when IER enabled it: this read clears it
        Out(Thr, 0x01);               // loops back: data available, THRE again
        Out(Thr, 0x02);               // overrun: non-FIFO receiver full
        Assert.Equal(0x06, In(Iir));  // line status first
        Assert.Equal(0x02, In(Lsr) & 0x02);
        Assert.Equal(0x04, In(Iir));  // then received data
        In(Thr);
        Assert.Equal(0x02, In(Iir));  // then THR empty (cleared by this read)
        Assert.Equal(0x00, In(Iir));  // then modem status
        In(Msr);
        Assert.Equal(0x01, In(Iir));
    }

    [Fact]
    public void OverrunWithoutFifoOverwritesRbr()
    {
        _uart.Receive(0x10);
        Assert.Equal(0, _uart.ReceiveSpace);
        _uart.Receive(0x20);
        Assert.Equal(0x63, In(Lsr)); // DR, OE, THRE, TEMT
        Assert.Equal(0x60, In(Lsr) & 0x62); // OE cleared by the read; DR gone only after reading RBR
        Assert.Equal(0x20, In(Thr));
    }

    [Fact]
    public void FifoHoldsSixteenBytesAndReportsOverrun()
    {
        Out(Iir, 0x07); // enable and clear FIFOs, trigger level 1
        Assert.Equal(0xC1, In(Iir));
        for (int i = 0; i < 17; i++)
            _uart.Receive((byte)i);
        Assert.Equal(0x02, In(Lsr) & 0x02);
        for (int i = 0; i < 16; i++)
            Assert.Equal(i, In(Thr));
        Assert.Equal(0x00, In(Lsr) & 0x01);
    }

    [Fact]
    public void FifoTriggerLevelAndCharacterTimeout()
    {
        Out(Lcr, 0x83);
        Out(Com1, 12);   // 9600 baud
        Out(Com1 + 1, 0);
        Out(Lcr, 0x03);  // 8N1: 10 bits per character
        Out(Iir, 0x87);  // FIFO, trigger level 8
        Out(Ier, 0x01);
        Out(Mcr, 0x08);
        _clock.Now = 1_000_000;
        for (int i = 0; i < 7; i++)
            _uart.Receive((byte)i);
        Assert.Equal(0xC1, In(Iir)); // below the trigger level, timeout not yet due
        // Four characters of 10 bits at 9600 baud: 4 * 12 * 16 * 10 / 1843200 s = 4.1666 ms.
        Assert.Equal(1_000_000UL + 4_166_666, _uart.NextDeadline);
        _uart.Advance(1_000_000 + 4_166_665);
        Assert.False(IrqLine);
        _uart.Advance(1_000_000 + 4_166_666);
        Assert.True(IrqLine);
        Assert.Equal(0xCC, In(Iir));
        _clock.Now = 6_000_000;
        In(Thr); // reading restarts the timer
        Assert.Equal(0xC1, In(Iir));
        _uart.Receive(7);
        _uart.Receive(8); // 8 bytes now: trigger level reached
        Assert.Equal(0xC4, In(Iir));
    }

    [Fact]
    public void FifoClearEmptiesReceiver()
    {
        Out(Iir, 0x01);
        _uart.Receive(1);
        _uart.Receive(2);
        Out(Iir, 0x03);
        Assert.Equal(0x00, In(Lsr) & 0x01);
        Assert.Equal(16, _uart.ReceiveSpace);
    }

    [Fact]
    public void StateRoundTripsAndBehavesTheSame()
    {
        Out(Iir, 0x47);
        Out(Ier, 0x07);
        Out(Mcr, 0x0B);
        Out(Scr, 0x77);
        _clock.Now = 500;
        _uart.Receive([1, 2, 3]);
        Out(Thr, 9);

        var copyIrq = new List<bool>();
        var copySent = new List<byte>();
        var copy = new Uart16550(Com1, _clock, copyIrq.Add, copySent.Add);
        StateRoundTrip.Copy(_uart, copy);
        var copyBus = new PortBus();
        copy.Register(copyBus);
        Assert.Equal(_uart.NextDeadline, copy.NextDeadline);
        for (ushort port = Com1; port < Com1 + 8; port++)
            Assert.Equal(_bus.Read(port, 1), copyBus.Read(port, 1));
        _uart.Receive(4);
        copy.Receive(4);
        Assert.Equal(StateRoundTrip.Save(_uart), StateRoundTrip.Save(copy));
    }

    [Fact]
    public void LinuxsAutoconfigurationSeesA16550A()
    {
        // The probe of drivers/tty/serial/8250: IER holds its low nibble...
        Out(Ier, 0x00);
        Assert.Equal(0x00, In(Ier) & 0x0F);
        Out(Ier, 0x0F);
        Assert.Equal(0x0F, In(Ier) & 0x0F);
        Out(Ier, 0x00);
        // ... loopback with RTS and OUT2 shows CTS and DCD in MSR ...
        Out(Mcr, 0x10 | 0x0A);
        Assert.Equal(0x90, In(Msr) & 0xF0);
        Out(Mcr, 0x00);
        // ... the scratch register keeps what is written ...
        Out(Scr, 0xA5);
        Assert.Equal(0xA5, In(Scr));
        Out(Scr, 0x5A);
        Assert.Equal(0x5A, In(Scr));
        // ... and with the FIFOs enabled IIR's top bits are 11: a 16550A, not a 16550 (10) or 16450 (00).
        Out(Iir, 0x01);
        Assert.Equal(3, In(Iir) >> 6);
        Out(Iir, 0x00);
        Assert.Equal(0, In(Iir) >> 6);
    }
}
