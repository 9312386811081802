using VmFt.Guest.Io;
using VmFt.Guest.Time;

namespace VmFt.Guest.Devices;

/// <summary>
/// The MC146818A real-time clock and CMOS RAM (Motorola MC146818A datasheet) at 0x70 (index, bit 7
/// masks NMI) and 0x71 (data), interrupting on IRQ 8. Wall time is the boot time given to the
/// constructor plus guest time, so the clock is as deterministic as the guest clock. Time
/// registers follow register B's binary/BCD and 12/24-hour bits; the update cycle happens on each
/// second boundary (UIP reads high during the 244 us before it); periodic, alarm and update-ended
/// flags in register C drive IRQF, and reading C clears them. The divider bits of register A are
/// stored but do not stop the clock. The PC's memory-size bytes are filled in from the RAM size.
/// </summary>
public sealed class CmosRtc : IPortDevice, ITimedDevice, IStatefulDevice
{
    private const long NsPerSecond = 1_000_000_000;
    private const long UipWindowNs = 244_000;
    private const int RegA = 0x0A, RegB = 0x0B, RegC = 0x0C, RegD = 0x0D, Century = 0x32;
    private const byte BSet = 0x80, BPie = 0x40, BAie = 0x20, BUie = 0x10, BBinary = 0x04, B24Hour = 0x02;

    private readonly IGuestClock _clock;
    private readonly Action<bool> _irq;
    private readonly byte[] _ram = new byte[128];
    private byte _index;
    private bool _nmiMasked;
    private long _baseSeconds;    // wall-clock second (seconds since 1970, in the clock's own zone) ...
    private long _baseNs;         // ... that began at this guest time (may be negative)
    private ulong _lastNs;        // guest time up to which flags have been updated
    private bool _irqLevel;

    /// <param name="bootTime">Wall time at power-on; the clock shows its local reading (its offset picks the zone).</param>
    /// <param name="ramSize">Guest RAM in bytes, for the memory-size bytes.</param>
    public CmosRtc(DateTimeOffset bootTime, ulong ramSize, IGuestClock clock, Action<bool> irq8)
    {
        _clock = clock;
        _irq = irq8;
        long ticks = bootTime.DateTime.Ticks - DateTime.UnixEpoch.Ticks;
        _baseSeconds = FloorDiv(ticks, TimeSpan.TicksPerSecond);
        _baseNs = -(ticks - _baseSeconds * TimeSpan.TicksPerSecond) * 100;

        _ram[RegA] = 0x26;            // 32.768 kHz time base, 1024 Hz periodic rate
        _ram[RegB] = B24Hour;         // BCD, 24-hour
        _ram[RegD] = 0x80;            // valid RAM and time
        SetMemorySize(ramSize);
        RenderTime(CurrentSeconds(0));
    }

    /// <summary>Bit 7 of the last index written to port 0x70.</summary>
    public bool NmiMasked => _nmiMasked;

    public void Register(PortBus bus) => bus.Map(0x70, 2, this);

    private void SetMemorySize(ulong ramSize)
    {
        const ulong MiB = 1024 * 1024;
        SetWord(0x15, 640);
        ulong extended = ramSize > MiB ? Math.Min((ramSize - MiB) / 1024, 65535) : 0;
        SetWord(0x17, (ushort)extended);
        SetWord(0x30, (ushort)extended);
        ulong above16 = ramSize > 16 * MiB ? Math.Min((ramSize - 16 * MiB) / 65536, 65535) : 0;
        SetWord(0x34, (ushort)above16);
        // The standard checksum covers 0x10-0x2D and is stored big-endian at 0x2E.
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++)
            sum += _ram[i];
        _ram[0x2E] = (byte)(sum >> 8);
        _ram[0x2F] = (byte)sum;
    }

    private void SetWord(int index, ushort value)
    {
        _ram[index] = (byte)value;
        _ram[index + 1] = (byte)(value >> 8);
    }

    private bool Frozen => (_ram[RegB] & BSet) != 0;

    private static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }

    private long CurrentSeconds(ulong now) => _baseSeconds + FloorDiv((long)now - _baseNs, NsPerSecond);

    private static long PeriodTicks(byte regA)
    {
        int rs = regA & 0x0F;
        return rs switch { 0 => 0, 1 => 128, 2 => 256, _ => 1L << (rs - 1) };
    }

    /// <summary>Periodic-interrupt boundaries passed at <paramref name="ns"/>: the 32.768 kHz divider counted from power-on.</summary>
    private static ulong PeriodsAt(ulong ns, long period) => (ulong)((UInt128)ns * 32768 / NsPerSecond / (ulong)period);

    public ulong NextDeadline
    {
        get
        {
            if ((_ram[RegC] & 0x80) != 0)
                return ulong.MaxValue; // IRQ already raised; later flags can be found lazily
            ulong next = ulong.MaxValue;
            long period = PeriodTicks(_ram[RegA]);
            if ((_ram[RegB] & BPie) != 0 && period != 0)
            {
                UInt128 k = (UInt128)PeriodsAt(_lastNs, period) + 1;
                UInt128 ns = (k * (ulong)period * NsPerSecond + 32767) / 32768;
                next = ns > ulong.MaxValue ? ulong.MaxValue : (ulong)ns;
            }
            if ((_ram[RegB] & (BUie | BAie)) != 0 && !Frozen)
            {
                long s = FloorDiv((long)_lastNs - _baseNs, NsPerSecond) + 1;
                long ns = _baseNs + s * NsPerSecond;
                if (ns >= 0)
                    next = Math.Min(next, (ulong)ns);
            }
            return next;
        }
    }

    public void Advance(ulong now)
    {
        if (now <= _lastNs)
            return;
        byte flags = 0;
        long period = PeriodTicks(_ram[RegA]);
        if (period != 0 && PeriodsAt(now, period) != PeriodsAt(_lastNs, period))
            flags |= 0x40;
        if (!Frozen)
        {
            long from = CurrentSeconds(_lastNs);
            long to = CurrentSeconds(now);
            if (to > from)
            {
                flags |= 0x10;
                // Alarm patterns repeat daily, so a long gap needs at most a day of checks.
                for (long s = Math.Max(from + 1, to - 86399); s <= to; s++)
                {
                    if (AlarmMatches(s))
                    {
                        flags |= 0x20;
                        break;
                    }
                }
            }
        }
        _lastNs = now;
        if (flags != 0)
        {
            _ram[RegC] |= flags;
            UpdateIrq();
        }
    }

    private void UpdateIrq()
    {
        byte c = (byte)(_ram[RegC] & 0x70);
        if ((c & _ram[RegB] & 0x70) != 0)
            c |= 0x80;
        _ram[RegC] = c;
        bool level = (c & 0x80) != 0;
        if (level == _irqLevel)
            return;
        _irqLevel = level;
        _irq(level);
    }

    private byte Encode(int value) => (_ram[RegB] & BBinary) != 0 ? (byte)value : (byte)((value / 10) << 4 | value % 10);

    private int Decode(byte value) => (_ram[RegB] & BBinary) != 0 ? value : (value >> 4) * 10 + (value & 0x0F);

    private byte EncodeHour(int hour)
    {
        if ((_ram[RegB] & B24Hour) != 0)
            return Encode(hour);
        int h12 = hour % 12 == 0 ? 12 : hour % 12;
        return (byte)(Encode(h12) | (hour >= 12 ? 0x80 : 0));
    }

    private int DecodeHour(byte value)
    {
        if ((_ram[RegB] & B24Hour) != 0)
            return Decode(value);
        return Decode((byte)(value & 0x7F)) % 12 + ((value & 0x80) != 0 ? 12 : 0);
    }

    private void RenderTime(long seconds)
    {
        long days = FloorDiv(seconds, 86400);
        int secOfDay = (int)(seconds - days * 86400);
        CivilFromDays(days, out int year, out int month, out int day);
        _ram[0x00] = Encode(secOfDay % 60);
        _ram[0x02] = Encode(secOfDay / 60 % 60);
        _ram[0x04] = EncodeHour(secOfDay / 3600);
        _ram[0x06] = Encode((int)((days % 7 + 7 + 4) % 7) + 1); // 1970-01-01 was a Thursday; Sunday is 1
        _ram[0x07] = Encode(day);
        _ram[0x08] = Encode(month);
        _ram[0x09] = Encode(year % 100);
        _ram[Century] = Encode(year / 100 % 100);
    }

    private long ParseTime()
    {
        int year = Decode(_ram[Century]) * 100 + Decode(_ram[0x09]);
        int month = Math.Clamp(Decode(_ram[0x08]), 1, 12);
        int day = Decode(_ram[0x07]);
        long days = DaysFromCivil(year, month, day);
        return days * 86400 + DecodeHour(_ram[0x04]) * 3600L + Decode(_ram[0x02]) * 60L + Decode(_ram[0x00]);
    }

    private bool AlarmMatches(long seconds)
    {
        int secOfDay = (int)(seconds - FloorDiv(seconds, 86400) * 86400);
        return Matches(_ram[0x01], Encode(secOfDay % 60))
            && Matches(_ram[0x03], Encode(secOfDay / 60 % 60))
            && Matches(_ram[0x05], EncodeHour(secOfDay / 3600));

        // An alarm byte with both top bits set is "don't care".
        static bool Matches(byte alarm, byte now) => (alarm & 0xC0) == 0xC0 || alarm == now;
    }

    // Proleptic Gregorian calendar conversions (days relative to 1970-01-01).
    private static long DaysFromCivil(long y, int m, int d)
    {
        y -= m <= 2 ? 1 : 0;
        long era = (y >= 0 ? y : y - 399) / 400;
        long yoe = y - era * 400;
        long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }

    private static void CivilFromDays(long z, out int year, out int month, out int day)
    {
        z += 719468;
        long era = (z >= 0 ? z : z - 146096) / 146097;
        long doe = z - era * 146097;
        long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long mp = (5 * doy + 2) / 153;
        day = (int)(doy - (153 * mp + 2) / 5 + 1);
        month = (int)(mp < 10 ? mp + 3 : mp - 9);
        year = (int)(yoe + era * 400 + (month <= 2 ? 1 : 0));
    }

    private static bool IsTimeRegister(int index) => index is 0x00 or 0x02 or 0x04 or 0x06 or 0x07 or 0x08 or 0x09 or Century;

    /// <summary>Makes the running clock's new reading the registers' value, keeping the second's phase.</summary>
    private void Rebase(ulong now) => _baseSeconds += ParseTime() - CurrentSeconds(now);

    public uint Read(ushort port, int size)
    {
        if (port == 0x70)
            return 0xFF; // the index register is write-only
        ulong now = _clock.Now;
        Advance(now);
        int index = _index;
        switch (index)
        {
            case RegA:
            {
                long phase = ((long)now - _baseNs) % NsPerSecond;
                if (phase < 0)
                    phase += NsPerSecond;
                bool uip = !Frozen && phase >= NsPerSecond - UipWindowNs;
                return (uint)((_ram[RegA] & 0x7F) | (uip ? 0x80 : 0));
            }
            case RegC:
            {
                byte value = _ram[RegC];
                _ram[RegC] = 0;
                UpdateIrq();
                return value;
            }
            case RegD:
                return 0x80;
        }
        if (IsTimeRegister(index) && !Frozen)
            RenderTime(CurrentSeconds(now));
        return _ram[index];
    }

    public void Write(ushort port, int size, uint value)
    {
        byte b = (byte)value;
        if (port == 0x70)
        {
            _index = (byte)(b & 0x7F);
            _nmiMasked = (b & 0x80) != 0;
            return;
        }
        ulong now = _clock.Now;
        Advance(now);
        int index = _index;
        switch (index)
        {
            case RegA:
                _ram[RegA] = (byte)(b & 0x7F);
                return;
            case RegB:
                WriteRegisterB(b, now);
                return;
            case RegC:
            case RegD:
                return; // read-only
        }
        if (IsTimeRegister(index) && !Frozen)
        {
            // Writing a running clock sets that field of the present time.
            RenderTime(CurrentSeconds(now));
            _ram[index] = b;
            Rebase(now);
            return;
        }
        _ram[index] = b;
    }

    private void WriteRegisterB(byte value, ulong now)
    {
        bool wasFrozen = Frozen;
        if (!wasFrozen && (value & BSet) != 0)
            RenderTime(CurrentSeconds(now)); // freeze the registers at the present reading
        // SET inhibits updates and clears UIE.
        if ((value & BSet) != 0)
            value &= unchecked((byte)~BUie);
        _ram[RegB] = value;
        if (wasFrozen && !Frozen)
            Rebase(now);
        UpdateIrq();
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w)
    {
        w.Write(_ram);
        w.Write(_index);
        w.Write(_nmiMasked);
        w.Write(_baseSeconds);
        w.Write(_baseNs);
        w.Write(_lastNs);
        w.Write(_irqLevel);
    }

    public void LoadState(BinaryReader r)
    {
        byte[] ram = r.ReadBytes(_ram.Length);
        if (ram.Length != _ram.Length)
            throw new EndOfStreamException();
        ram.CopyTo(_ram, 0);
        _index = (byte)(r.ReadByte() & 0x7F);
        _nmiMasked = r.ReadBoolean();
        _baseSeconds = r.ReadInt64();
        _baseNs = r.ReadInt64();
        _lastNs = r.ReadUInt64();
        _irqLevel = r.ReadBoolean();
    }
}
