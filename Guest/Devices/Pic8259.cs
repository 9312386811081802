namespace VmFt.Guest.Devices;

/// <summary>
/// One 8259A programmable interrupt controller (Intel 8259A datasheet, 231468): the
/// initialization sequence ICW1-ICW4, the operation commands OCW1-OCW3, fully nested and rotating
/// priorities, auto-EOI, special mask mode and poll mode. Edge-triggered inputs latch IRR on a
/// rising edge and drop the request when the line falls before the acknowledge (which is what
/// makes a spurious IRQ 7 possible); level-triggered inputs (LTIM or the chipset's ELCR) request
/// for as long as the line is high. <see cref="DualPic"/> cascades two of them.
/// </summary>
internal sealed class Pic8259
{
    private readonly byte _elcrWritable;

    private byte _lines;          // current input levels
    private byte _irr;            // edge-latched requests
    private byte _isr;
    private byte _imr;
    private byte _elcr;           // level-triggered inputs (chipset edge/level control)
    private byte _levelAlways;    // inputs that are level-sensitive by wiring (the cascade input)
    private byte _vectorBase;
    private byte _icw3;
    private byte _initStep;       // 0 ready; 2, 3, 4: expecting that ICW
    private bool _needIcw4;
    private bool _single;
    private bool _ltim;
    private bool _autoEoi;
    private bool _rotateOnAutoEoi;
    private bool _specialFullyNested;
    private bool _specialMask;
    private bool _readIsr;
    private bool _pollPending;
    private byte _lowestPriority = 7;

    public Pic8259(byte elcrWritable, byte levelAlways)
    {
        _elcrWritable = elcrWritable;
        _levelAlways = levelAlways;
    }

    public bool IsMaster { get; init; }

    public byte VectorBase => _vectorBase;

    public byte Elcr
    {
        get => _elcr;
        set => _elcr = (byte)(value & _elcrWritable);
    }

    private byte LevelMask => _ltim ? (byte)0xFF : (byte)(_elcr | _levelAlways);

    /// <summary>Requests as IRR shows them: latched edges plus level inputs that are high.</summary>
    public byte Irr => (byte)(_irr | (_lines & LevelMask));

    public byte Isr => _isr;

    public byte Imr => _imr;

    public void SetLine(int irq, bool level)
    {
        byte bit = (byte)(1 << irq);
        bool was = (_lines & bit) != 0;
        if (level)
        {
            _lines |= bit;
            if (!was)
                _irr |= bit;
        }
        else
        {
            _lines &= (byte)~bit;
            // The request must stay high until acknowledged; a line that falls first withdraws it.
            _irr &= (byte)~bit;
        }
    }

    private int Priority(int irq) => (irq - _lowestPriority - 1) & 7;

    /// <summary>Highest-priority input in <paramref name="mask"/>, or -1.</summary>
    private int Highest(byte mask)
    {
        if (mask == 0)
            return -1;
        for (int p = 0; p < 8; p++)
        {
            int irq = (p + _lowestPriority + 1) & 7;
            if ((mask & (1 << irq)) != 0)
                return irq;
        }
        return -1;
    }

    /// <summary>The unmasked request that would be delivered now, or -1.</summary>
    public int PendingIrq()
    {
        int req = Highest((byte)(Irr & ~_imr));
        if (req < 0)
            return -1;
        byte inService = _isr;
        if (_specialMask)
            inService &= (byte)~_imr;
        // In special fully nested mode the master lets a higher-priority slave request through
        // although the cascade input is already in service.
        if (_specialFullyNested && IsMaster)
            inService &= unchecked((byte)~(1 << 2));
        int svc = Highest(inService);
        if (svc >= 0 && Priority(svc) <= Priority(req))
            return -1;
        return req;
    }

    public bool Output => PendingIrq() >= 0;

    public bool IsCascadeInput(int irq) => IsMaster && !_single && (_icw3 & (1 << irq)) != 0;

    /// <summary>The INTA cycle for this chip: returns the IRQ taken, or -1 for a spurious request.</summary>
    public int Acknowledge()
    {
        int irq = PendingIrq();
        if (irq < 0)
            return -1;
        byte bit = (byte)(1 << irq);
        _irr &= (byte)~bit;
        if (_autoEoi)
        {
            if (_rotateOnAutoEoi)
                _lowestPriority = (byte)irq;
        }
        else
        {
            _isr |= bit;
        }
        return irq;
    }

    public void WriteCommand(byte value)
    {
        if ((value & 0x10) != 0)
        {
            Icw1(value);
            return;
        }
        if ((value & 0x08) == 0)
            Ocw2(value);
        else
            Ocw3(value);
    }

    private void Icw1(byte value)
    {
        _needIcw4 = (value & 0x01) != 0;
        _single = (value & 0x02) != 0;
        _ltim = (value & 0x08) != 0;
        // Initialization resets the edge sense circuit, the mask, the in-service register,
        // priorities, special mask mode and selects IRR for status reads.
        _irr = 0;
        _isr = 0;
        _imr = 0;
        _lowestPriority = 7;
        _specialMask = false;
        _readIsr = false;
        _pollPending = false;
        _autoEoi = false;
        _rotateOnAutoEoi = false;
        _specialFullyNested = false;
        _initStep = 2;
    }

    private void Ocw2(byte value)
    {
        int level = value & 7;
        switch (value >> 5)
        {
            case 0: _rotateOnAutoEoi = false; break;
            case 4: _rotateOnAutoEoi = true; break;
            case 1: NonSpecificEoi(rotate: false); break;
            case 5: NonSpecificEoi(rotate: true); break;
            case 3: _isr &= (byte)~(1 << level); break;
            case 7:
                _isr &= (byte)~(1 << level);
                _lowestPriority = (byte)level;
                break;
            case 6: _lowestPriority = (byte)level; break;
            default: break; // 2: no operation
        }
    }

    private void NonSpecificEoi(bool rotate)
    {
        byte inService = _specialMask ? (byte)(_isr & ~_imr) : _isr;
        int irq = Highest(inService);
        if (irq < 0)
            return;
        _isr &= (byte)~(1 << irq);
        if (rotate)
            _lowestPriority = (byte)irq;
    }

    private void Ocw3(byte value)
    {
        if ((value & 0x40) != 0)
            _specialMask = (value & 0x20) != 0;
        if ((value & 0x04) != 0)
            _pollPending = true;
        if ((value & 0x02) != 0)
            _readIsr = (value & 0x01) != 0;
    }

    public void WriteData(byte value)
    {
        switch (_initStep)
        {
            case 2:
                _vectorBase = (byte)(value & 0xF8);
                _initStep = _single ? (_needIcw4 ? (byte)4 : (byte)0) : (byte)3;
                break;
            case 3:
                _icw3 = value;
                _initStep = _needIcw4 ? (byte)4 : (byte)0;
                break;
            case 4:
                _autoEoi = (value & 0x02) != 0;
                _specialFullyNested = (value & 0x10) != 0;
                _initStep = 0;
                break;
            default:
                _imr = value;
                break;
        }
    }

    /// <summary>True when the next read is the answer to a poll command.</summary>
    public bool PollPending => _pollPending;

    /// <summary>Poll: acknowledges the highest request like an INTA cycle and reports it.</summary>
    public byte Poll(out int irq)
    {
        _pollPending = false;
        irq = Acknowledge();
        return irq < 0 ? (byte)0 : (byte)(0x80 | irq);
    }

    public byte ReadCommand() => _readIsr ? _isr : Irr;

    public byte ReadData() => _imr;

    public void Save(BinaryWriter w)
    {
        w.Write(_lines);
        w.Write(_irr);
        w.Write(_isr);
        w.Write(_imr);
        w.Write(_elcr);
        w.Write(_vectorBase);
        w.Write(_icw3);
        w.Write(_initStep);
        w.Write(_lowestPriority);
        int flags = (_needIcw4 ? 1 : 0) | (_single ? 2 : 0) | (_ltim ? 4 : 0) | (_autoEoi ? 8 : 0)
            | (_rotateOnAutoEoi ? 16 : 0) | (_specialFullyNested ? 32 : 0) | (_specialMask ? 64 : 0)
            | (_readIsr ? 128 : 0) | (_pollPending ? 256 : 0);
        w.Write((ushort)flags);
    }

    public void Load(BinaryReader r)
    {
        _lines = r.ReadByte();
        _irr = r.ReadByte();
        _isr = r.ReadByte();
        _imr = r.ReadByte();
        _elcr = (byte)(r.ReadByte() & _elcrWritable);
        _vectorBase = r.ReadByte();
        _icw3 = r.ReadByte();
        _initStep = r.ReadByte();
        _lowestPriority = (byte)(r.ReadByte() & 7);
        int flags = r.ReadUInt16();
        _needIcw4 = (flags & 1) != 0;
        _single = (flags & 2) != 0;
        _ltim = (flags & 4) != 0;
        _autoEoi = (flags & 8) != 0;
        _rotateOnAutoEoi = (flags & 16) != 0;
        _specialFullyNested = (flags & 32) != 0;
        _specialMask = (flags & 64) != 0;
        _readIsr = (flags & 128) != 0;
        _pollPending = (flags & 256) != 0;
    }
}
