using VmFt.Guest.Devices;
using VmFt.Guest.Io;
using Xunit;

namespace VmFt.Guest.Tests.Devices;

public sealed class SmallDeviceTests
{
    private readonly PortBus _bus = new();

    [Theory]
    [InlineData(0x00u, 1, 0x01)]
    [InlineData(0x10u, 1, 0x21)]
    [InlineData(0x1FFu, 1, 0x1FF)]    // only the written byte counts
    [InlineData(0x1234u, 2, 0x2469)]
    public void DebugExitStatusIsValueShiftedLeftPlusOne(uint value, int size, int status)
    {
        var statuses = new List<int>();
        new DebugExit(statuses.Add).Register(_bus);
        _bus.Write(0xF4, size, value);
        Assert.Equal([status], statuses);
    }

    [Fact]
    public void DebugConsoleForwardsBytesAndReadsE9()
    {
        var output = new List<byte>();
        new DebugConsole(output.Add).Register(_bus);
        _bus.Write(0xE9, 1, 'o');
        _bus.Write(0xE9, 1, 'k');
        Assert.Equal("ok"u8.ToArray(), output);
        Assert.Equal(0xE9u, _bus.Read(0xE9, 1));
    }

    [Fact]
    public void PostCodePortAcceptsWritesAndTraces()
    {
        var codes = new List<byte>();
        new PostCodePort(codes.Add).Register(_bus);
        _bus.Write(0x80, 1, 0x3C);
        Assert.Equal([0x3C], codes);
        Assert.Equal(0x3Cu, _bus.Read(0x80, 1));
        var silent = new PostCodePort();
        silent.Write(0x80, 1, 0x11);
        Assert.Equal(0x11, silent.LastCode);
    }

    [Fact]
    public void PortAGatesA20AndResetsOnRisingBit0()
    {
        var a20 = new List<bool>();
        int resets = 0;
        new SystemControlPortA(a20.Add, () => resets++).Register(_bus);
        Assert.Equal(0x00u, _bus.Read(0x92, 1));
        _bus.Write(0x92, 1, 0x02);
        Assert.Equal([true], a20);
        Assert.Equal(0x02u, _bus.Read(0x92, 1));
        _bus.Write(0x92, 1, 0x03);
        Assert.Equal(1, resets);
        _bus.Write(0x92, 1, 0x03); // bit 0 already set: no new reset
        Assert.Equal(1, resets);
        _bus.Write(0x92, 1, 0x00);
        Assert.Equal([true, false], a20);
        Assert.Equal(1, resets);
    }

    [Fact]
    public void StatelessAndSmallDevicesRoundTrip()
    {
        var port80 = new PostCodePort();
        port80.Write(0x80, 1, 0x42);
        var port80Copy = new PostCodePort();
        StateRoundTrip.Copy(port80, port80Copy);
        Assert.Equal(0x42u, port80Copy.Read(0x80, 1));

        var portA = new SystemControlPortA(_ => { }, () => { });
        portA.Write(0x92, 1, 0x02);
        var portACopy = new SystemControlPortA(_ => { }, () => { });
        StateRoundTrip.Copy(portA, portACopy);
        Assert.Equal(0x02u, portACopy.Read(0x92, 1));
        Assert.True(portACopy.A20Enabled);

        // The debug exit and console keep no state: they are not stateful devices at all.
        Assert.IsNotAssignableFrom<IStatefulDevice>(new DebugExit(_ => { }));
        Assert.IsNotAssignableFrom<IStatefulDevice>(new DebugConsole(_ => { }));
    }
}
