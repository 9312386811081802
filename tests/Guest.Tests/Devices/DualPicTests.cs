using VmFt.Guest.Devices;
using VmFt.Guest.Io;
using Xunit;

namespace VmFt.Guest.Tests.Devices;

public sealed class DualPicTests
{
    private readonly PortBus _bus = new();
    private readonly List<bool> _intr = [];
    private readonly DualPic _pic;

    public DualPicTests()
    {
        _pic = new DualPic(_intr.Add);
        _pic.Register(_bus);
    }

    /// <summary>The PC's usual programming: master at vector 0x20, slave at 0x28, cascade on IR2, 8086 mode.</summary>
    private void Init(byte icw4 = 0x01)
    {
        Out(0x20, 0x11); Out(0x21, 0x20); Out(0x21, 0x04); Out(0x21, icw4);
        Out(0xA0, 0x11); Out(0xA1, 0x28); Out(0xA1, 0x02); Out(0xA1, icw4);
    }

    private void Out(ushort port, byte value) => _bus.Write(port, 1, value);

    private byte In(ushort port) => (byte)_bus.Read(port, 1);

    private byte ReadIsr(ushort commandPort)
    {
        Out(commandPort, 0x0B);
        return In(commandPort);
    }

    private byte ReadIrr(ushort commandPort)
    {
        Out(commandPort, 0x0A);
        return In(commandPort);
    }

    [Fact]
    public void InitialisationClearsMaskAndSetsVectorBase()
    {
        Out(0x21, 0xFF);
        Init();
        Assert.Equal(0x00, In(0x21));
        _pic.SetIrq(4, true);
        Assert.True(_pic.InterruptOutput);
        Assert.Equal(0x24, _pic.Acknowledge());
    }

    [Fact]
    public void HigherPriorityIsDeliveredFirstAndNestsOverLowerInService()
    {
        Init();
        _pic.SetIrq(3, true);
        _pic.SetIrq(1, true);
        Assert.Equal(0x21, _pic.Acknowledge());
        Assert.Equal(0x02, ReadIsr(0x20));
        // IRQ3 waits: IRQ1 has higher priority and is in service.
        Assert.False(_pic.InterruptOutput);
        Out(0x20, 0x20); // non-specific EOI
        Assert.True(_pic.InterruptOutput);
        Assert.Equal(0x23, _pic.Acknowledge());
        // A higher-priority request interrupts the lower one in service.
        _pic.SetIrq(0, true);
        Assert.True(_pic.InterruptOutput);
        Assert.Equal(0x20, _pic.Acknowledge());
        Assert.Equal(0x09, ReadIsr(0x20));
        Out(0x20, 0x20); // clears IRQ0, the highest in service
        Assert.Equal(0x08, ReadIsr(0x20));
        Out(0x20, 0x63); // specific EOI for IRQ3
        Assert.Equal(0x00, ReadIsr(0x20));
    }

    [Fact]
    public void InterruptOutputCallbackFollowsThePin()
    {
        Init();
        _pic.SetIrq(5, true);
        _pic.Acknowledge();
        Out(0x20, 0x20);
        Assert.Equal([true, false], _intr);
    }

    [Fact]
    public void MaskHoldsRequestInIrr()
    {
        Init();
        Out(0x21, 0x01);
        _pic.SetIrq(0, true);
        Assert.False(_pic.InterruptOutput);
        Assert.Equal(0x01, In(0x21));
        Assert.Equal(0x01, ReadIrr(0x20));
        Out(0x21, 0x00);
        Assert.True(_pic.InterruptOutput);
        Assert.Equal(0x20, _pic.Acknowledge());
        Assert.Equal(0x00, ReadIrr(0x20));
    }

    [Fact]
    public void EdgeTriggeredInputNeedsANewRisingEdge()
    {
        Init();
        _pic.SetIrq(1, true);
        _pic.Acknowledge();
        Out(0x20, 0x20);
        Assert.False(_pic.InterruptOutput); // line still high, no new edge
        _pic.SetIrq(1, false);
        _pic.SetIrq(1, true);
        Assert.True(_pic.InterruptOutput);
    }

    [Fact]
    public void RequestWithdrawnBeforeAcknowledgeGivesSpuriousIrq7()
    {
        Init();
        _pic.SetIrq(5, true);
        Assert.True(_pic.InterruptOutput);
        _pic.SetIrq(5, false);
        Assert.False(_pic.InterruptOutput);
        Assert.Equal(0x27, _pic.Acknowledge());
        Assert.Equal(0x00, ReadIsr(0x20)); // a spurious IRQ7 is not put in service
    }

    [Fact]
    public void SlaveRequestCascadesThroughIr2()
    {
        Init();
        _pic.SetIrq(12, true);
        Assert.True(_pic.InterruptOutput);
        Assert.Equal(0x04, ReadIrr(0x20));
        Assert.Equal(0x2C, _pic.Acknowledge());
        Assert.Equal(0x04, ReadIsr(0x20));
        Assert.Equal(0x10, ReadIsr(0xA0));
        Out(0xA0, 0x20);
        Out(0x20, 0x20);
        Assert.Equal(0x00, ReadIsr(0x20));
        Assert.Equal(0x00, ReadIsr(0xA0));
        // A second slave request after EOI is delivered again.
        _pic.SetIrq(8, true);
        Assert.True(_pic.InterruptOutput);
        Assert.Equal(0x28, _pic.Acknowledge());
    }

    [Fact]
    public void WithdrawnSlaveRequestLeavesOnlyTheMasterSpurious()
    {
        Init();
        _pic.SetIrq(10, true);
        Assert.True(_pic.InterruptOutput);
        Out(0xA1, 0x04); // masked away before the acknowledge: the cascade input falls with it
        Assert.False(_pic.InterruptOutput);
        Assert.Equal(0x27, _pic.Acknowledge());
        Assert.Equal(0x00, ReadIsr(0x20));
        Assert.Equal(0x00, ReadIsr(0xA0));
    }

    [Fact]
    public void AutoEoiLeavesNothingInService()
    {
        Init(icw4: 0x03);
        _pic.SetIrq(6, true);
        Assert.Equal(0x26, _pic.Acknowledge());
        Assert.Equal(0x00, ReadIsr(0x20));
    }

    [Fact]
    public void RotateOnEoiMakesServicedIrqLowestPriority()
    {
        Init();
        _pic.SetIrq(0, true);
        Assert.Equal(0x20, _pic.Acknowledge());
        Out(0x20, 0xA0); // rotate on non-specific EOI: IRQ0 becomes lowest
        _pic.SetIrq(0, false);
        _pic.SetIrq(0, true);
        _pic.SetIrq(7, true);
        Assert.Equal(0x27, _pic.Acknowledge()); // IRQ7 now outranks IRQ0
    }

    [Fact]
    public void PollCommandReportsAndAcknowledges()
    {
        Init();
        _pic.SetIrq(3, true);
        Out(0x20, 0x0C); // OCW3 poll
        Assert.Equal(0x83, In(0x20));
        Assert.Equal(0x08, ReadIsr(0x20));
        Out(0x20, 0x0C);
        Assert.Equal(0x00, In(0x20));
    }

    [Fact]
    public void LevelTriggeredInputRequestsWhileHigh()
    {
        Init();
        Out(0x4D1, 0x02); // IRQ9 level-triggered
        Assert.Equal(0x02, In(0x4D1));
        Out(0x4D0, 0xFF);
        Assert.Equal(0xF8, In(0x4D0)); // IRQ 0-2 cannot be level-triggered
        _pic.SetIrq(9, true);
        Assert.Equal(0x29, _pic.Acknowledge());
        Out(0xA0, 0x20);
        Out(0x20, 0x20);
        Assert.True(_pic.InterruptOutput); // still high: requests again without a new edge
        _pic.SetIrq(9, false);
        Assert.False(_pic.InterruptOutput);
    }

    [Fact]
    public void StateRoundTripsAndBehavesTheSame()
    {
        Init();
        Out(0x21, 0x10);
        _pic.SetIrq(3, true);
        _pic.SetIrq(11, true);
        _pic.SetIrq(4, true);
        Assert.Equal(0x2B, _pic.Acknowledge()); // the cascade (IR2) outranks IR3; IR4 is masked
        Out(0x20, 0x0B);

        var copy = new DualPic();
        StateRoundTrip.Copy(_pic, copy);
        var copyBus = new PortBus();
        copy.Register(copyBus);
        Assert.Equal(_pic.InterruptOutput, copy.InterruptOutput);
        Assert.Equal(_bus.Read(0x20, 1), copyBus.Read(0x20, 1));
        Out(0x20, 0x20);
        copyBus.Write(0x20, 1, 0x20);
        Assert.Equal(_pic.Acknowledge(), copy.Acknowledge());
        Assert.Equal(StateRoundTrip.Save(_pic), StateRoundTrip.Save(copy));
    }

    [Fact]
    public void SpecificEoiClearsOnlyTheNamedLevel()
    {
        Init();
        _pic.SetIrq(3, true);
        Assert.Equal(0x23, _pic.Acknowledge());
        _pic.SetIrq(1, true);
        Assert.Equal(0x21, _pic.Acknowledge());   // IRQ1 nests over IRQ3
        Assert.Equal(0x0A, ReadIsr(0x20));
        Out(0x20, 0x63);                          // specific EOI for level 3, not the highest (1) in service
        Assert.Equal(0x02, ReadIsr(0x20));
        Out(0x20, 0x61);
        Assert.Equal(0x00, ReadIsr(0x20));
    }

    [Fact]
    public void ElcrSetsLevelModePerLineAndReservedBitsReadZero()
    {
        Init();
        Out(0x4D0, 0xFF);
        Out(0x4D1, 0xFF);
        Assert.Equal(0xF8, In(0x4D0));            // IRQ0-2 are always edge-triggered
        Assert.Equal(0xDE, In(0x4D1));            // so are IRQ8 and IRQ13
        Out(0x4D1, 0x08);                         // IRQ11 level-triggered
        _pic.SetIrq(11, true);
        Assert.Equal(0x2B, _pic.Acknowledge());
        Out(0xA0, 0x20);
        Out(0x20, 0x20);
        // Still high after the EOI: a level-triggered line asks again without a new edge.
        Assert.True(_pic.InterruptOutput);
        Assert.Equal(0x2B, _pic.Acknowledge());
        Out(0xA0, 0x20);
        Out(0x20, 0x20);
        Out(0x4D1, 0x00);                         // edge-triggered again: the level alone no longer asks
        _pic.SetIrq(11, false);
        _pic.SetIrq(11, true);
        Assert.Equal(0x2B, _pic.Acknowledge());
        Out(0xA0, 0x20);
        Out(0x20, 0x20);
        Assert.False(_pic.InterruptOutput);
    }
}
