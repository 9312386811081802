using VmFt.Guest.Io;
using VmFt.Guest.Time;

namespace VmFt.Guest.Devices;

/// <summary>
/// The 8254 programmable interval timer at 0x40-0x43 (Intel 8254 datasheet, 231164) with the PC
/// wiring: a 1.193182 MHz input clock on all three counters, counter 0's OUT on IRQ 0, counter 2's
/// gate and OUT on port 0x61 (the AT's system control port B, which this class also owns: bit 0
/// gate 2, bit 1 speaker data, bits 2-3 check enables, bit 4 the refresh toggle, bit 5 OUT 2).
/// Time is derived from <see cref="IGuestClock"/> with integer arithmetic only.
/// </summary>
public sealed class Pit8254 : IPortDevice, ITimedDevice, IStatefulDevice
{
    public const ulong InputHz = 1_193_182;

    private readonly IGuestClock _clock;
    private readonly Action<bool> _irq0;
    private readonly PitChannel[] _channels = [new(), new(), new()];
    private ulong _lastTick;      // the tick up to which counter 0's OUT has been reported
    private bool _irqLevel;       // counter 0's OUT as last reported on IRQ 0
    private byte _portB;          // port 0x61 bits 0-3 as written
    private bool _refresh;

    public Pit8254(IGuestClock clock, Action<bool> irq0)
    {
        _clock = clock;
        _irq0 = irq0;
        _irqLevel = _channels[0].Out(0);
    }

    public void Register(PortBus bus)
    {
        bus.Map(0x40, 4, this);
        bus.Map(0x61, 1, this);
    }

    /// <summary>Input-clock ticks elapsed at <paramref name="ns"/> guest nanoseconds: floor(ns * 1193182 / 10^9).</summary>
    public static ulong TicksAt(ulong ns) => (ulong)((UInt128)ns * InputHz / 1_000_000_000);

    /// <summary>The first guest nanosecond at which <see cref="TicksAt"/> reaches <paramref name="tick"/>.</summary>
    public static ulong NanosecondsAt(ulong tick)
    {
        UInt128 ns = ((UInt128)tick * 1_000_000_000 + (InputHz - 1)) / InputHz;
        return ns > ulong.MaxValue ? ulong.MaxValue : (ulong)ns;
    }

    public ulong NextDeadline
    {
        get
        {
            ulong next = _channels[0].NextTransition(_lastTick);
            return next == ulong.MaxValue ? ulong.MaxValue : NanosecondsAt(next);
        }
    }

    public void Advance(ulong now)
    {
        ulong tick = TicksAt(now);
        if (tick <= _lastTick)
            return;
        PitChannel ch0 = _channels[0];
        bool level = ch0.Out(tick);
        // Report a rising edge even when the whole pulse fell between two calls, so that the
        // edge-triggered PIC still latches the request.
        if (ch0.RoseBetween(_lastTick, tick))
        {
            if (_irqLevel)
                SetIrq(false);
            SetIrq(true);
        }
        if (level != _irqLevel)
            SetIrq(level);
        _lastTick = tick;
    }

    private void SetIrq(bool level)
    {
        _irqLevel = level;
        _irq0(level);
    }

    /// <summary>Catches up with the clock, so that a reprogramming starts from the present.</summary>
    private ulong Sync()
    {
        ulong now = _clock.Now;
        Advance(now);
        return Math.Max(TicksAt(now), _lastTick);
    }

    public uint Read(ushort port, int size)
    {
        ulong tick = Math.Max(TicksAt(_clock.Now), _lastTick);
        switch (port)
        {
            case 0x40:
            case 0x41:
            case 0x42:
                return _channels[port - 0x40].Read(tick);
            case 0x61:
            {
                // Bit 4 follows the DRAM refresh request; flipping it on every read makes
                // delay loops that wait for a toggle terminate deterministically.
                _refresh = !_refresh;
                uint value = (uint)(_portB & 0x0F) | (_refresh ? 0x10u : 0) | (_channels[2].Out(tick) ? 0x20u : 0);
                return value;
            }
            default:
                return 0xFF; // the control word register cannot be read
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        ulong tick = Sync();
        byte b = (byte)value;
        switch (port)
        {
            case 0x40:
            case 0x41:
            case 0x42:
                _channels[port - 0x40].WriteCount(b, tick);
                break;
            case 0x43:
                WriteControl(b, tick);
                break;
            case 0x61:
                _portB = (byte)(b & 0x0F);
                _channels[2].SetGate((b & 1) != 0, tick);
                break;
        }
        bool level = _channels[0].Out(tick);
        if (level != _irqLevel)
            SetIrq(level);
    }

    private void WriteControl(byte value, ulong tick)
    {
        int select = value >> 6;
        if (select == 3)
        {
            // Read-back: bit 5 low latches counts, bit 4 low latches status, bits 1-3 pick counters.
            for (int i = 0; i < 3; i++)
            {
                if ((value & (2 << i)) == 0)
                    continue;
                if ((value & 0x10) == 0)
                    _channels[i].LatchStatus(tick);
                if ((value & 0x20) == 0)
                    _channels[i].LatchCount(tick);
            }
            return;
        }
        if ((value & 0x30) == 0)
            _channels[select].LatchCount(tick);
        else
            _channels[select].WriteControl(value, tick);
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w)
    {
        foreach (PitChannel channel in _channels)
            channel.Save(w);
        w.Write(_lastTick);
        w.Write(_irqLevel);
        w.Write(_portB);
        w.Write(_refresh);
    }

    public void LoadState(BinaryReader r)
    {
        foreach (PitChannel channel in _channels)
            channel.Load(r);
        _lastTick = r.ReadUInt64();
        _irqLevel = r.ReadBoolean();
        _portB = (byte)(r.ReadByte() & 0x0F);
        _refresh = r.ReadBoolean();
    }
}
