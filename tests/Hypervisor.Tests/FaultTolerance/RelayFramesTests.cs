using VmFt.Hypervisor.FaultTolerance.Relay;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The relay's frame streams, message by message: input frames numbered and kept until logged,
/// sent again to a node that goes live; output frames put on the network once each, in number
/// order, whoever sends them.
/// </summary>
public sealed class RelayFramesTests
{
    private static byte[] F(byte n) => [n, n, n];

    private static (RelayCore Core, List<byte[]> Network) Relay()
    {
        var core = new RelayCore { HasNetwork = true };
        var network = new List<byte[]>();
        core.NetworkOutput += network.Add;
        return (core, network);
    }

    private static List<T> Sent<T>(RelayCore core, string node) =>
        core.TakeNodeMessages().Where(m => m.Node == node || m.Node == RelayCore.Broadcast).Select(m => m.Message).OfType<T>().ToList();

    [Fact]
    public void InputFramesAreNumberedAndTheOnesANewPrimaryHasNotLoggedAreSentToItAgain()
    {
        var (core, _) = Relay();
        core.OnNode(new LiveToRelay("A", 0, 0, 0));
        core.TakeNodeMessages();
        for (byte i = 0; i < 5; i++) core.OnNetworkFrame(F(i));
        Assert.Equal([0UL, 1, 2, 3, 4], Sent<FrameFromRelay>(core, "A").Select(f => f.Index));
        core.OnNode(new FramesLoggedToRelay("A", 0, 2));    // A's backup has 0 and 1
        // B's log holds one more than A reported (A died before its report): B gets 3 and 4.
        core.OnNode(new LiveToRelay("B", 1, 0, 0) { FrameInputEnd = 3 });
        var again = Sent<FrameFromRelay>(core, "B");
        Assert.Equal([3UL, 4], again.Select(f => f.Index));
        Assert.Equal(F(3), again[0].Frame);
        Assert.Equal(5UL, core.FrameInputEnd);
    }

    [Fact]
    public void FramesArrivingWhileNoNodeIsLiveWaitAndGoToTheFirst()
    {
        var (core, _) = Relay();
        core.OnNetworkFrame(F(7));
        Assert.Empty(core.TakeNodeMessages());
        core.OnNode(new LiveToRelay("A", 0, 0, 0));
        Assert.Equal([0UL], Sent<FrameFromRelay>(core, "A").Select(f => f.Index));
    }

    [Fact]
    public void BeyondTheBacklogInputFramesAreDroppedAndCounted()
    {
        var (core, _) = Relay();
        for (int i = 0; i < RelayCore.MaxUnloggedFrames + 3; i++) core.OnNetworkFrame([1]);
        Assert.Equal((ulong)RelayCore.MaxUnloggedFrames, core.FrameInputEnd);
        Assert.Equal(3UL, core.InputFramesDropped);
    }

    [Fact]
    public void OutputFramesGoOnTheNetworkOnceInOrderWhicheverNodeSendsThem()
    {
        var (core, network) = Relay();
        core.OnNode(new LiveToRelay("A", 0, 0, 0));
        for (byte i = 0; i < 3; i++) core.OnNode(new FrameToRelay("A", 0, i, F(i)));
        core.TakeNodeMessages();
        // B went live with 5 frames from its replay of the log and asks nothing: the relay says from where.
        core.OnNode(new LiveToRelay("B", 1, 0, 0) { FrameOutputEnd = 5 });
        Assert.Equal([3UL], Sent<FramesWantedFromRelay>(core, "B").Select(w => w.From));
        // It sends everything again anyway (a node that re-sends more than asked): the numbers drop the repeats.
        for (byte i = 0; i < 6; i++) core.OnNode(new FrameToRelay("B", 1, i, F(i)));
        // The dead primary's late frame is of the old generation: ignored.
        core.OnNode(new FrameToRelay("A", 0, 6, F(99)));
        Assert.Equal([0, 1, 2, 3, 4, 5], network.Select(f => (int)f[0]));
        Assert.Equal(3UL, core.DuplicateFramesDropped);
        Assert.Equal(6UL, core.FramesDelivered);
    }

    [Fact]
    public void AHoleIsAskedForOnceAndFilled()
    {
        var (core, network) = Relay();
        core.OnNode(new LiveToRelay("A", 0, 0, 0));
        core.TakeNodeMessages();
        core.OnNode(new FrameToRelay("A", 0, 0, F(0)));
        core.OnNode(new FrameToRelay("A", 0, 2, F(2)));    // 1 lost with a connection
        core.OnNode(new FrameToRelay("A", 0, 3, F(3)));
        Assert.Equal([1UL], Sent<FramesWantedFromRelay>(core, "A").Select(w => w.From));
        for (byte i = 1; i < 4; i++) core.OnNode(new FrameToRelay("A", 0, i, F(i)));
        Assert.Equal([0, 1, 2, 3], network.Select(f => (int)f[0]));
    }

    [Fact]
    public void WithoutANetworkTheRelaySendsNoFrameMessages()
    {
        var core = new RelayCore();
        core.OnNetworkFrame([1, 2]);
        core.OnNode(new LiveToRelay("A", 0, 0, 0));
        Assert.DoesNotContain(core.TakeNodeMessages(), m => m.Message is FrameFromRelay or FramesWantedFromRelay);
    }
}
