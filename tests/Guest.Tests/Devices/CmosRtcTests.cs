using VmFt.Guest.Devices;
using VmFt.Guest.Io;
using Xunit;

namespace VmFt.Guest.Tests.Devices;

public sealed class CmosRtcTests
{
    private static readonly DateTimeOffset Boot = new(2024, 2, 29, 23, 59, 58, TimeSpan.Zero);

    private readonly ManualClock _clock = new();
    private readonly PortBus _bus = new();
    private readonly List<bool> _irq = [];
    private readonly CmosRtc _rtc;

    public CmosRtcTests()
    {
        _rtc = new CmosRtc(Boot, 64UL << 20, _clock, _irq.Add);
        _rtc.Register(_bus);
    }

    private byte Get(byte index)
    {
        _bus.Write(0x70, 1, index);
        return (byte)_bus.Read(0x71, 1);
    }

    private void Set(byte index, byte value)
    {
        _bus.Write(0x70, 1, index);
        _bus.Write(0x71, 1, value);
    }

    private bool IrqLine => _irq.Count > 0 && _irq[^1];

    [Fact]
    public void BcdTimeAtBootAndAfterMidnight()
    {
        Assert.Equal(0x58, Get(0x00));
        Assert.Equal(0x59, Get(0x02));
        Assert.Equal(0x23, Get(0x04));
        Assert.Equal(0x05, Get(0x06)); // Thursday; Sunday is 1
        Assert.Equal(0x29, Get(0x07));
        Assert.Equal(0x02, Get(0x08));
        Assert.Equal(0x24, Get(0x09));
        Assert.Equal(0x20, Get(0x32));
        _clock.Now = 2_000_000_000;
        Assert.Equal(0x00, Get(0x00));
        Assert.Equal(0x00, Get(0x04));
        Assert.Equal(0x06, Get(0x06)); // Friday
        Assert.Equal(0x01, Get(0x07));
        Assert.Equal(0x03, Get(0x08));
    }

    [Fact]
    public void BinaryAnd12HourFormats()
    {
        Set(0x0B, 0x06); // binary, 24 h
        Assert.Equal(58, Get(0x00));
        Assert.Equal(23, Get(0x04));
        Assert.Equal(29, Get(0x07));
        Set(0x0B, 0x00); // BCD, 12 h
        Assert.Equal(0x91, Get(0x04)); // 11 PM
        _clock.Now = 2_000_000_000;
        Assert.Equal(0x12, Get(0x04)); // 12 AM
        Set(0x0B, 0x04); // binary, 12 h
        Assert.Equal(12, Get(0x04));
    }

    [Fact]
    public void SubSecondBootTimeShiftsTheSecondBoundary()
    {
        var rtc = new CmosRtc(new DateTimeOffset(2000, 1, 1, 0, 0, 0, 750, TimeSpan.Zero), 1 << 20, _clock, _ => { });
        var bus = new PortBus();
        rtc.Register(bus);
        _clock.Now = 249_999_999;
        bus.Write(0x70, 1, 0x00);
        Assert.Equal(0x00u, bus.Read(0x71, 1));
        _clock.Now = 250_000_000;
        Assert.Equal(0x01u, bus.Read(0x71, 1));
    }

    [Fact]
    public void UpdateInProgressDuringTheLast244Microseconds()
    {
        _clock.Now = 500_000_000;
        Assert.Equal(0x26, Get(0x0A));
        _clock.Now = 1_000_000_000 - 244_000;
        Assert.Equal(0xA6, Get(0x0A));
        _clock.Now = 1_000_000_000;
        Assert.Equal(0x26, Get(0x0A));
    }

    [Fact]
    public void SettingTheTimeWithSetBit()
    {
        _clock.Now = 300_000_000;
        Set(0x0B, 0x82);
        Set(0x04, 0x10);
        Set(0x02, 0x30);
        _clock.Now = 5_000_000_000; // frozen while SET
        Assert.Equal(0x10, Get(0x04));
        Assert.Equal(0x58, Get(0x00));
        Set(0x0B, 0x02);
        Assert.Equal(0x10, Get(0x04));
        Assert.Equal(0x30, Get(0x02));
        Assert.Equal(0x58, Get(0x00));
        _clock.Now = 7_000_000_000;
        Assert.Equal(0x00, Get(0x00));
        Assert.Equal(0x31, Get(0x02));
    }

    [Fact]
    public void PeriodicInterruptAtTheRateOfRegisterA()
    {
        Assert.Equal(ulong.MaxValue, _rtc.NextDeadline);
        Set(0x0B, 0x42); // PIE
        // Rate 6: 1024 Hz, a period of 976562.5 ns.
        Assert.Equal(976_563UL, _rtc.NextDeadline);
        _rtc.Advance(976_562);
        Assert.False(IrqLine);
        _rtc.Advance(976_563);
        Assert.True(IrqLine);
        Assert.Equal(ulong.MaxValue, _rtc.NextDeadline); // raised until register C is read
        _clock.Now = 976_563;
        Assert.Equal(0xC0, Get(0x0C));
        Assert.False(IrqLine);
        Assert.Equal(0x00, Get(0x0C)); // cleared on read
        Assert.Equal(1_953_125UL, _rtc.NextDeadline);
        Set(0x0A, 0x2F); // rate 15: 2 Hz
        Assert.Equal(500_000_000UL, _rtc.NextDeadline);
    }

    [Fact]
    public void PeriodicFlagIsSetEvenWithoutInterruptEnable()
    {
        _clock.Now = 10_000_000;
        Assert.Equal(0x40, Get(0x0C) & 0x40);
        Assert.False(IrqLine);
    }

    [Fact]
    public void UpdateEndedInterruptEverySecond()
    {
        Set(0x0A, 0x20); // no periodic rate
        Set(0x0B, 0x12); // UIE
        Assert.Equal(1_000_000_000UL, _rtc.NextDeadline);
        _rtc.Advance(1_000_000_000);
        Assert.True(IrqLine);
        _clock.Now = 1_000_000_000;
        Assert.Equal(0x90, Get(0x0C));
    }

    [Fact]
    public void AlarmInterrupt()
    {
        Set(0x0A, 0x20);
        Set(0x01, 0x05);    // seconds 05
        Set(0x03, 0xC0);    // any minute
        Set(0x05, 0xFF);    // any hour
        Set(0x0B, 0x22);    // AIE
        _rtc.Advance(6_000_000_000); // 00:00:04
        Assert.False(IrqLine);
        _rtc.Advance(7_000_000_000); // 00:00:05
        Assert.True(IrqLine);
        _clock.Now = 7_000_000_000;
        Assert.Equal(0xB0, Get(0x0C)); // IRQF, AF, UF
    }

    [Fact]
    public void MemorySizeBytesFor64MiB()
    {
        Assert.Equal(0x80, Get(0x15));
        Assert.Equal(0x02, Get(0x16)); // 640 KiB
        Assert.Equal(0x00, Get(0x17));
        Assert.Equal(0xFC, Get(0x18)); // 63 MiB = 64512 KiB
        Assert.Equal(0x00, Get(0x30));
        Assert.Equal(0xFC, Get(0x31));
        Assert.Equal(0x00, Get(0x34));
        Assert.Equal(0x03, Get(0x35)); // 48 MiB / 64 KiB = 768
        Assert.Equal(0x80, Get(0x0D));
    }

    [Fact]
    public void ExtendedMemoryIsCappedAt65535KiB()
    {
        var rtc = new CmosRtc(Boot, 1UL << 30, _clock, _ => { });
        var bus = new PortBus();
        rtc.Register(bus);
        bus.Write(0x70, 1, 0x17);
        Assert.Equal(0xFFu, bus.Read(0x71, 1));
        bus.Write(0x70, 1, 0x18);
        Assert.Equal(0xFFu, bus.Read(0x71, 1));
    }

    [Fact]
    public void NmiMaskIsBit7OfTheIndex()
    {
        _bus.Write(0x70, 1, 0x8F);
        Assert.True(_rtc.NmiMasked);
        _bus.Write(0x71, 1, 0xAB);
        _bus.Write(0x70, 1, 0x0F);
        Assert.False(_rtc.NmiMasked);
        Assert.Equal(0xABu, _bus.Read(0x71, 1));
    }

    [Fact]
    public void StateRoundTripsAndBehavesTheSame()
    {
        Set(0x0B, 0x52);
        Set(0x40, 0x99);
        _clock.Now = 1_500_000_000;
        _rtc.Advance(_clock.Now);
        Set(0x0B, 0x46); // keep PIE, binary mode

        var copyIrq = new List<bool>();
        var copy = new CmosRtc(new DateTimeOffset(1990, 1, 1, 0, 0, 0, TimeSpan.Zero), 1 << 20, _clock, copyIrq.Add);
        StateRoundTrip.Copy(_rtc, copy);
        var copyBus = new PortBus();
        copy.Register(copyBus);
        Assert.Equal(_rtc.NextDeadline, copy.NextDeadline);
        _clock.Now = 3_200_000_000;
        foreach (byte index in new byte[] { 0x00, 0x02, 0x04, 0x07, 0x0A, 0x0B, 0x0C, 0x18, 0x40 })
        {
            copyBus.Write(0x70, 1, index);
            Assert.Equal(Get(index), (byte)copyBus.Read(0x71, 1));
        }
        _irq.Clear();
        copyIrq.Clear();
        _rtc.Advance(4_000_000_000);
        copy.Advance(4_000_000_000);
        Assert.Equal(_irq, copyIrq);
        Assert.Equal(StateRoundTrip.Save(_rtc), StateRoundTrip.Save(copy));
    }

    [Fact]
    public void TheCenturyByteIsAt0x32()
    {
        Assert.Equal(0x20, Get(0x32));            // BCD 20 for 2024
        Assert.Equal(0x24, Get(0x09));
        Set(0x0B, (byte)(Get(0x0B) | 0x04));      // binary mode
        Assert.Equal(20, Get(0x32));
    }
}
