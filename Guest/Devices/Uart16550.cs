using VmFt.Guest.Io;
using VmFt.Guest.Time;

namespace VmFt.Guest.Devices;

/// <summary>
/// A 16550A UART (TI/National PC16550D datasheet) as wired on a PC: eight registers at a base port,
/// the interrupt output gated by MCR OUT2. Interrupt identification follows the datasheet's
/// priorities (line status, received data or character timeout, THR empty, modem status); 16-byte
/// receive FIFO with trigger levels 1/4/8/14 and a character timeout of four character times.
/// Transmission is instantaneous: a byte written to THR leaves at once (to the sink, or to the
/// receiver in loopback) and THR is empty again. Modem inputs read CTS, DSR and DCD asserted.
/// </summary>
public sealed class Uart16550 : IPortDevice, ITimedDevice, IStatefulDevice
{
    public const int FifoSize = 16;
    private const byte ExternalModemLines = 0xB0; // DCD, DSR, CTS
    private static readonly byte[] TriggerLevels = [1, 4, 8, 14];

    private readonly ushort _base;
    private readonly IGuestClock _clock;
    private readonly Action<bool> _irq;
    private readonly Action<byte> _transmit;

    private readonly byte[] _rx = new byte[FifoSize];
    private int _rxHead;
    private int _rxCount;
    private byte _lastRbr;
    private byte _ier;
    private byte _lcr;
    private byte _mcr;
    private byte _lsrErrors;      // OE, PE, FE, BI: cleared by reading LSR
    private byte _msr = ExternalModemLines;
    private byte _scr;
    private byte _dll = 12;       // an arbitrary valid rate until the guest programs one
    private byte _dlm;
    private bool _fifoEnabled;
    private byte _triggerIndex;
    private bool _thrInterruptPending;
    private bool _timeoutPending;
    private ulong _lastRxActivity;
    private bool _irqLevel;

    public Uart16550(ushort basePort, IGuestClock clock, Action<bool> irq, Action<byte> transmit)
    {
        _base = basePort;
        _clock = clock;
        _irq = irq;
        _transmit = transmit;
    }

    public void Register(PortBus bus) => bus.Map(_base, 8, this);

    private int RxCapacity => _fifoEnabled ? FifoSize : 1;

    private bool Loopback => (_mcr & 0x10) != 0;

    /// <summary>Bytes the receiver can take without an overrun (0 in loopback, where the line input is cut off).</summary>
    public int ReceiveSpace => Loopback ? 0 : RxCapacity - _rxCount;

    /// <summary>A byte arrives on the serial line. In loopback mode the line input is disconnected and the byte is lost.</summary>
    public void Receive(byte value)
    {
        if (Loopback)
            return;
        Sync();
        PushReceived(value);
        UpdateIrq();
    }

    public void Receive(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
            Receive(b);
    }

    private void PushReceived(byte value)
    {
        _lastRxActivity = _clock.Now;
        if (_rxCount == RxCapacity)
        {
            _lsrErrors |= 0x02;
            // Without FIFOs the new character overwrites RBR; with them it dies in the shift register.
            if (!_fifoEnabled)
                _rx[_rxHead] = value;
            return;
        }
        _rx[(_rxHead + _rxCount) % FifoSize] = value;
        _rxCount++;
    }

    private ulong TimeoutNs
    {
        get
        {
            ulong divisor = (ulong)(_dll | _dlm << 8);
            if (divisor == 0)
                divisor = 65536;
            ulong bits = 1 + 5 + (ulong)(_lcr & 3) + ((_lcr & 0x08) != 0 ? 1u : 0) + ((_lcr & 0x04) != 0 ? 2u : 1);
            // 1.8432 MHz crystal, 16 clocks per bit; four character times.
            return 4 * divisor * 16 * bits * 1_000_000_000 / 1_843_200;
        }
    }

    private bool TimeoutArmed => _fifoEnabled && _rxCount > 0 && !_timeoutPending;

    public ulong NextDeadline
    {
        get
        {
            // Only an enabled receive interrupt makes the timeout urgent; otherwise it is noticed
            // when the guest next looks at the UART.
            if (!TimeoutArmed || (_ier & 0x01) == 0)
                return ulong.MaxValue;
            ulong deadline = _lastRxActivity + TimeoutNs;
            return deadline < _lastRxActivity ? ulong.MaxValue : deadline;
        }
    }

    public void Advance(ulong now)
    {
        if (TimeoutArmed && now >= _lastRxActivity && now - _lastRxActivity >= TimeoutNs)
        {
            _timeoutPending = true;
            UpdateIrq();
        }
    }

    private void Sync() => Advance(_clock.Now);

    /// <summary>The interrupt identification code (IIR bits 3-0) of the highest-priority pending source.</summary>
    private byte InterruptId()
    {
        if ((_ier & 0x04) != 0 && _lsrErrors != 0)
            return 0x06;
        if ((_ier & 0x01) != 0)
        {
            if (_rxCount > 0 && _rxCount >= (_fifoEnabled ? TriggerLevels[_triggerIndex] : 1))
                return 0x04;
            if (_fifoEnabled && _timeoutPending && _rxCount > 0)
                return 0x0C;
        }
        if ((_ier & 0x02) != 0 && _thrInterruptPending)
            return 0x02;
        if ((_ier & 0x08) != 0 && (_msr & 0x0F) != 0)
            return 0x00;
        return 0x01;
    }

    private void UpdateIrq()
    {
        // On a PC the UART's interrupt output reaches the bus only through the OUT2 gate.
        bool level = InterruptId() != 0x01 && (_mcr & 0x08) != 0;
        if (level == _irqLevel)
            return;
        _irqLevel = level;
        _irq(level);
    }

    public uint Read(ushort port, int size)
    {
        Sync();
        bool dlab = (_lcr & 0x80) != 0;
        byte value;
        switch (port - _base)
        {
            case 0:
                value = dlab ? _dll : ReadRbr();
                break;
            case 1:
                value = dlab ? _dlm : _ier;
                break;
            case 2:
            {
                byte id = InterruptId();
                if (id == 0x02)
                    _thrInterruptPending = false;
                value = (byte)(id | (_fifoEnabled ? 0xC0 : 0));
                break;
            }
            case 3:
                value = _lcr;
                break;
            case 4:
                value = _mcr;
                break;
            case 5:
                value = (byte)((_rxCount > 0 ? 0x01 : 0) | _lsrErrors | 0x60);
                _lsrErrors = 0;
                break;
            case 6:
                value = _msr;
                _msr &= 0xF0;
                break;
            default:
                value = _scr;
                break;
        }
        UpdateIrq();
        return value;
    }

    private byte ReadRbr()
    {
        if (_rxCount > 0)
        {
            _lastRbr = _rx[_rxHead];
            _rxHead = (_rxHead + 1) % FifoSize;
            _rxCount--;
        }
        _timeoutPending = false;
        _lastRxActivity = _clock.Now;
        return _lastRbr;
    }

    public void Write(ushort port, int size, uint value)
    {
        Sync();
        bool dlab = (_lcr & 0x80) != 0;
        byte b = (byte)value;
        switch (port - _base)
        {
            case 0:
                if (dlab)
                    _dll = b;
                else
                    WriteThr(b);
                break;
            case 1:
                if (dlab)
                {
                    _dlm = b;
                }
                else
                {
                    // Enabling the THRE interrupt while THR is empty raises it at once.
                    if ((_ier & 0x02) == 0 && (b & 0x02) != 0)
                        _thrInterruptPending = true;
                    _ier = (byte)(b & 0x0F);
                }
                break;
            case 2:
                WriteFcr(b);
                break;
            case 3:
                _lcr = b;
                break;
            case 4:
                WriteMcr(b);
                break;
            case 7:
                _scr = b;
                break;
        }
        UpdateIrq();
    }

    private void WriteThr(byte b)
    {
        if (Loopback)
            PushReceived(b);
        else
            _transmit(b);
        // The byte has left: THR is empty again and, as on a real transmit, says so.
        _thrInterruptPending = true;
    }

    private void WriteFcr(byte b)
    {
        bool enable = (b & 0x01) != 0;
        if (enable != _fifoEnabled || (b & 0x02) != 0)
        {
            _rxHead = 0;
            _rxCount = 0;
            _timeoutPending = false;
        }
        _fifoEnabled = enable;
        _triggerIndex = (byte)(b >> 6);
    }

    private void WriteMcr(byte b)
    {
        _mcr = (byte)(b & 0x1F);
        byte lines = ModemLines();
        byte old = (byte)(_msr & 0xF0);
        byte delta = 0;
        if (((old ^ lines) & 0x10) != 0) delta |= 0x01;         // DCTS
        if (((old ^ lines) & 0x20) != 0) delta |= 0x02;         // DDSR
        if ((old & 0x40) != 0 && (lines & 0x40) == 0) delta |= 0x04; // TERI: RI's trailing edge
        if (((old ^ lines) & 0x80) != 0) delta |= 0x08;         // DDCD
        _msr = (byte)(lines | (_msr & 0x0F) | delta);
    }

    private byte ModemLines()
    {
        if (!Loopback)
            return ExternalModemLines;
        // Loopback: RTS -> CTS, DTR -> DSR, OUT1 -> RI, OUT2 -> DCD.
        return (byte)(((_mcr & 0x02) << 3) | ((_mcr & 0x01) << 5) | ((_mcr & 0x04) << 4) | ((_mcr & 0x08) << 4));
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w)
    {
        w.Write(_rx);
        w.Write((byte)_rxHead);
        w.Write((byte)_rxCount);
        w.Write(_lastRbr);
        w.Write(_ier);
        w.Write(_lcr);
        w.Write(_mcr);
        w.Write(_lsrErrors);
        w.Write(_msr);
        w.Write(_scr);
        w.Write(_dll);
        w.Write(_dlm);
        w.Write(_fifoEnabled);
        w.Write(_triggerIndex);
        w.Write(_thrInterruptPending);
        w.Write(_timeoutPending);
        w.Write(_lastRxActivity);
        w.Write(_irqLevel);
    }

    public void LoadState(BinaryReader r)
    {
        byte[] rx = r.ReadBytes(FifoSize);
        if (rx.Length != FifoSize)
            throw new EndOfStreamException();
        rx.CopyTo(_rx, 0);
        _rxHead = r.ReadByte();
        _rxCount = r.ReadByte();
        if (_rxHead >= FifoSize || _rxCount > FifoSize)
            throw new InvalidDataException("UART FIFO position out of range");
        _lastRbr = r.ReadByte();
        _ier = (byte)(r.ReadByte() & 0x0F);
        _lcr = r.ReadByte();
        _mcr = (byte)(r.ReadByte() & 0x1F);
        _lsrErrors = (byte)(r.ReadByte() & 0x1E);
        _msr = r.ReadByte();
        _scr = r.ReadByte();
        _dll = r.ReadByte();
        _dlm = r.ReadByte();
        _fifoEnabled = r.ReadBoolean();
        _triggerIndex = (byte)(r.ReadByte() & 3);
        _thrInterruptPending = r.ReadBoolean();
        _timeoutPending = r.ReadBoolean();
        _lastRxActivity = r.ReadUInt64();
        _irqLevel = r.ReadBoolean();
    }
}
