using VmFt.Guest.Devices;
using VmFt.Guest.Io;
using Xunit;

namespace VmFt.Guest.Tests.Devices;

public sealed class Keyboard8042Tests
{
    private readonly PortBus _bus = new();
    private readonly List<bool> _irq = [];
    private readonly List<bool> _a20 = [];
    private int _resets;
    private readonly Keyboard8042 _kbc;

    public Keyboard8042Tests()
    {
        _kbc = new Keyboard8042(_irq.Add, _a20.Add, () => _resets++);
        _kbc.Register(_bus);
    }

    private byte Status => (byte)_bus.Read(0x64, 1);

    private byte Data => (byte)_bus.Read(0x60, 1);

    private void Command(byte value) => _bus.Write(0x64, 1, value);

    private void WriteData(byte value) => _bus.Write(0x60, 1, value);

    [Fact]
    public void StatusShowsSystemFlagAndEmptyBuffers()
    {
        Assert.Equal(0x04, Status & 0x07); // SYS set, IBF and OBF clear
    }

    [Fact]
    public void SelfTestAnswers55()
    {
        Command(0xAA);
        Assert.Equal(0x01, Status & 0x01);
        Assert.Equal(0x08, Status & 0x08); // last write was a command
        Assert.Equal(0x55, Data);
        Assert.Equal(0x00, Status & 0x01);
        Command(0xAB);
        Assert.Equal(0x00, Data);
    }

    [Fact]
    public void CommandByteReadAndWrite()
    {
        Command(0x20);
        Assert.Equal(0x45, Data);
        Command(0x60);
        WriteData(0x40); // no interrupt, no system flag
        Assert.Equal(0x40, _kbc.CommandByte);
        Assert.Equal(0x00, Status & 0x04);
        Command(0xAD);
        Command(0x20);
        Assert.Equal(0x50, Data);
        Command(0xAE);
        Assert.Equal(0x40, _kbc.CommandByte);
    }

    [Fact]
    public void PulseResetAndOutputPortReset()
    {
        Command(0xFE);
        Assert.Equal(1, _resets);
        Command(0xFF); // pulses nothing
        Assert.Equal(1, _resets);
        Command(0xD1);
        WriteData(0x00); // reset line low
        Assert.Equal(2, _resets);
    }

    [Fact]
    public void OutputPortGatesA20()
    {
        Command(0xD0);
        Assert.Equal(0x00, Data & 0x02);
        Command(0xD1);
        WriteData(0x03);
        Assert.Equal([true], _a20);
        Command(0xD0);
        Assert.Equal(0x03, Data & 0x03);
        Command(0xDD);
        Assert.Equal([true, false], _a20);
        Command(0xDF);
        Assert.Equal([true, false, true], _a20);
        Assert.Equal(0, _resets);
    }

    [Fact]
    public void KeyboardCommandsAreAcknowledged()
    {
        WriteData(0xFF);
        Assert.Equal(0xFA, Data);
        Assert.Equal(0xAA, Data);
        WriteData(0xED); // set LEDs: ACK, then ACK for the parameter
        Assert.Equal(0xFA, Data);
        WriteData(0x07);
        Assert.Equal(0xFA, Data);
        WriteData(0xF4);
        Assert.Equal(0xFA, Data);
        WriteData(0xEE);
        Assert.Equal(0xEE, Data);
        Assert.Equal(0x00, Status & 0x01);
    }

    [Fact]
    public void Irq1FollowsOutputBufferWhenEnabled()
    {
        WriteData(0xFF);
        Assert.Equal([true], _irq);
        Assert.Equal(0xFA, Data); // 0xAA follows: a new edge
        Assert.Equal([true, false, true], _irq);
        _ = Data;
        Assert.Equal([true, false, true, false], _irq);
        Command(0x60);
        WriteData(0x44); // interrupt off
        Command(0xAA);
        Assert.Equal([true, false, true, false], _irq);
        Assert.Equal(0x55, Data);
    }

    [Fact]
    public void KeyboardInputIsDroppedWhileDisabled()
    {
        Command(0xAD);
        _kbc.KeyboardInput(0x1E);
        Assert.Equal(0x00, Status & 0x01);
        Command(0xAE);
        _kbc.KeyboardInput(0x1E);
        Assert.Equal(0x1E, Data);
    }

    [Fact]
    public void StateRoundTripsAndBehavesTheSame()
    {
        Command(0xD1);
        WriteData(0x03);
        WriteData(0xFF);
        _ = Data;
        Command(0x60); // waiting for its data byte

        var copyIrq = new List<bool>();
        var copy = new Keyboard8042(copyIrq.Add, _ => { }, () => { });
        StateRoundTrip.Copy(_kbc, copy);
        var copyBus = new PortBus();
        copy.Register(copyBus);
        _bus.Write(0x60, 1, 0x05);
        copyBus.Write(0x60, 1, 0x05);
        Assert.Equal(_bus.Read(0x64, 1), copyBus.Read(0x64, 1));
        Assert.Equal(_bus.Read(0x60, 1), copyBus.Read(0x60, 1));
        Assert.Equal(StateRoundTrip.Save(_kbc), StateRoundTrip.Save(copy));
    }
}
