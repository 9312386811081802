namespace VmFt.Guest.Devices;

/// <summary>
/// One counter of the 8254 (Intel 8254 datasheet, 231164). The counter is not stepped: its value
/// and its OUT level are functions of the input-clock tick at which the count was loaded, so any
/// tick can be asked about in constant time. Simplifications: a count is loaded on the tick it is
/// written (not on the next clock pulse), and a new count written in modes 2 and 3 takes effect at
/// once instead of at the end of the current period.
/// </summary>
internal sealed class PitChannel
{
    private byte _modeBits = 3;   // as written; 6 and 7 alias 2 and 3. Power-on: idle with OUT high
    private bool _bcd;
    private byte _access = 3;     // 1 low byte, 2 high byte, 3 low then high
    private int _count = 65536;   // 1..65536 (binary) or 1..10000 (BCD)
    private bool _hasCount;       // a count is loaded and the counter runs (or waits for its gate)
    private ulong _loadTick;
    private ulong _frozenElapsed; // elapsed ticks at the moment a low gate suspended counting
    private ulong _countWrittenTick;
    private bool _gate = true;
    private bool _triggered;      // modes 1 and 5: a gate rising edge has started the count
    private bool _writeHighNext;
    private byte _pendingLow;
    private bool _readHighNext;
    private bool _countLatched;
    private ushort _latchedCount;
    private bool _latchReadHighNext;
    private bool _statusLatched;
    private byte _latchedStatus;

    public int Mode => _modeBits > 5 ? _modeBits - 4 : _modeBits;

    private int Modulus => _bcd ? 10000 : 65536;

    /// <summary>Modes in which a low gate stops the counter.</summary>
    private bool Suspended => !_gate && Mode is 0 or 2 or 3 or 4;

    private ulong Elapsed(ulong tick) => Suspended ? _frozenElapsed : tick - _loadTick;

    public bool Out(ulong tick)
    {
        if (!_hasCount)
            return Mode != 0;
        ulong d = Elapsed(tick);
        ulong count = (ulong)_count;
        switch (Mode)
        {
            case 0: return d >= count;
            case 1: return !_triggered || d >= count;
            case 2:
                // A count of 1 is illegal in mode 2; the output is left high.
                return Suspended || count < 2 || d % count != count - 1;
            case 3: return Suspended || d % count < (count + 1) / 2;
            case 4: return d != count;
            default: return !_triggered || d != count;
        }
    }

    /// <summary>The first tick after <paramref name="tick"/> at which OUT changes, or <see cref="ulong.MaxValue"/>.</summary>
    public ulong NextTransition(ulong tick)
    {
        if (!_hasCount || Suspended)
            return ulong.MaxValue;
        ulong d = tick - _loadTick;
        ulong count = (ulong)_count;
        switch (Mode)
        {
            case 0:
                return d < count ? _loadTick + count : ulong.MaxValue;
            case 1:
                return _triggered && d < count ? _loadTick + count : ulong.MaxValue;
            case 2:
            {
                if (count < 2)
                    return ulong.MaxValue;
                ulong r = d % count;
                ulong periodStart = tick - r;
                return r < count - 1 ? periodStart + count - 1 : periodStart + count;
            }
            case 3:
            {
                if (count < 2)
                    return ulong.MaxValue;
                ulong r = d % count;
                ulong periodStart = tick - r;
                ulong high = (count + 1) / 2;
                return r < high ? periodStart + high : periodStart + count;
            }
            default:
                if (Mode == 5 && !_triggered)
                    return ulong.MaxValue;
                if (d < count)
                    return _loadTick + count;
                return d == count ? _loadTick + count + 1 : ulong.MaxValue;
        }
    }

    /// <summary>True if OUT had a rising edge in the ticks (<paramref name="from"/>, <paramref name="to"/>].</summary>
    public bool RoseBetween(ulong from, ulong to)
    {
        ulong first = NextTransition(from);
        if (first > to)
            return false;
        if (Out(first))
            return true;
        return NextTransition(first) <= to;
    }

    /// <summary>The counting element's value (binary, before any BCD conversion).</summary>
    private int Counter(ulong tick)
    {
        if (!_hasCount)
            return _count % Modulus;
        ulong d = Elapsed(tick);
        long count = _count;
        long modulus = Modulus;
        long value;
        switch (Mode)
        {
            case 2:
                value = count - (long)(d % (ulong)count);
                break;
            case 3:
                // Mode 3 counts down by two in each half period.
                value = count - (long)((d % (ulong)count) * 2 % (ulong)count);
                break;
            case 1:
            case 5:
                value = _triggered ? count - (long)(d % (ulong)modulus) : count;
                break;
            default:
                value = count - (long)(d % (ulong)modulus);
                break;
        }
        value %= modulus;
        if (value < 0)
            value += modulus;
        return (int)value;
    }

    private ushort CounterAsRead(ulong tick)
    {
        int value = Counter(tick);
        return _bcd ? ToBcd(value) : (ushort)value;
    }

    private static ushort ToBcd(int value) =>
        (ushort)((value / 1000 % 10) << 12 | (value / 100 % 10) << 8 | (value / 10 % 10) << 4 | value % 10);

    private static int FromBcd(int value) =>
        (value >> 12 & 0xF) * 1000 + (value >> 8 & 0xF) * 100 + (value >> 4 & 0xF) * 10 + (value & 0xF);

    public void WriteControl(byte value, ulong tick)
    {
        _access = (byte)((value >> 4) & 3);
        _modeBits = (byte)((value >> 1) & 7);
        _bcd = (value & 1) != 0;
        // A control word resets the counter's control logic: no count, OUT to its initial level.
        _hasCount = false;
        _triggered = false;
        _writeHighNext = false;
        _readHighNext = false;
        _countLatched = false;
        _statusLatched = false;
        _countWrittenTick = tick;
    }

    public void LatchCount(ulong tick)
    {
        if (_countLatched)
            return;
        _countLatched = true;
        _latchReadHighNext = false;
        _latchedCount = CounterAsRead(tick);
    }

    public void LatchStatus(ulong tick)
    {
        if (_statusLatched)
            return;
        _statusLatched = true;
        bool nullCount = !_hasCount || tick <= _countWrittenTick;
        _latchedStatus = (byte)((Out(tick) ? 0x80 : 0) | (nullCount ? 0x40 : 0) | _access << 4 | _modeBits << 1 | (_bcd ? 1 : 0));
    }

    public byte Read(ulong tick)
    {
        if (_statusLatched)
        {
            _statusLatched = false;
            return _latchedStatus;
        }
        if (_countLatched)
        {
            if (_access == 3 && !_latchReadHighNext)
            {
                _latchReadHighNext = true;
                return (byte)_latchedCount;
            }
            _countLatched = false;
            return _access == 1 ? (byte)_latchedCount : (byte)(_latchedCount >> 8);
        }
        ushort value = CounterAsRead(tick);
        switch (_access)
        {
            case 1: return (byte)value;
            case 2: return (byte)(value >> 8);
            default:
                _readHighNext = !_readHighNext;
                return _readHighNext ? (byte)value : (byte)(value >> 8);
        }
    }

    public void WriteCount(byte value, ulong tick)
    {
        switch (_access)
        {
            case 1: Load(value, tick); break;
            case 2: Load(value << 8, tick); break;
            default:
                if (!_writeHighNext)
                {
                    _pendingLow = value;
                    _writeHighNext = true;
                    // Mode 0: the first byte stops the count and sets OUT low at once.
                    if (Mode == 0)
                        _hasCount = false;
                }
                else
                {
                    _writeHighNext = false;
                    Load(_pendingLow | value << 8, tick);
                }
                break;
        }
    }

    private void Load(int raw, ulong tick)
    {
        int count = _bcd ? FromBcd(raw) : raw;
        _count = count == 0 ? Modulus : count;
        _hasCount = true;
        _loadTick = tick;
        _frozenElapsed = 0;
        _triggered = false;
        _countWrittenTick = tick;
    }

    public bool Gate => _gate;

    public void SetGate(bool gate, ulong tick)
    {
        if (gate == _gate)
            return;
        if (!gate)
        {
            if (_hasCount && Mode is 0 or 2 or 3 or 4)
                _frozenElapsed = tick - _loadTick;
            _gate = false;
            return;
        }
        _gate = true;
        if (!_hasCount)
            return;
        switch (Mode)
        {
            case 0:
            case 4:
                _loadTick = tick - _frozenElapsed;   // resume where the count stopped
                break;
            case 2:
            case 3:
                _loadTick = tick;                    // a rising gate restarts the period
                break;
            default:
                _loadTick = tick;                    // modes 1 and 5: the trigger
                _triggered = true;
                break;
        }
    }

    public void Save(BinaryWriter w)
    {
        w.Write(_modeBits);
        w.Write(_bcd);
        w.Write(_access);
        w.Write(_count);
        w.Write(_hasCount);
        w.Write(_loadTick);
        w.Write(_frozenElapsed);
        w.Write(_countWrittenTick);
        w.Write(_gate);
        w.Write(_triggered);
        w.Write(_writeHighNext);
        w.Write(_pendingLow);
        w.Write(_readHighNext);
        w.Write(_countLatched);
        w.Write(_latchedCount);
        w.Write(_latchReadHighNext);
        w.Write(_statusLatched);
        w.Write(_latchedStatus);
    }

    public void Load(BinaryReader r)
    {
        _modeBits = (byte)(r.ReadByte() & 7);
        _bcd = r.ReadBoolean();
        _access = (byte)(r.ReadByte() & 3);
        _count = r.ReadInt32();
        if (_count < 1 || _count > 65536)
            throw new InvalidDataException($"PIT count {_count} out of range");
        _hasCount = r.ReadBoolean();
        _loadTick = r.ReadUInt64();
        _frozenElapsed = r.ReadUInt64();
        _countWrittenTick = r.ReadUInt64();
        _gate = r.ReadBoolean();
        _triggered = r.ReadBoolean();
        _writeHighNext = r.ReadBoolean();
        _pendingLow = r.ReadByte();
        _readHighNext = r.ReadBoolean();
        _countLatched = r.ReadBoolean();
        _latchedCount = r.ReadUInt16();
        _latchReadHighNext = r.ReadBoolean();
        _statusLatched = r.ReadBoolean();
        _latchedStatus = r.ReadByte();
    }
}
