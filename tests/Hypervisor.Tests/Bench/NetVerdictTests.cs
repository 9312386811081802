using VmFt.Hypervisor.Bench.Faults;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>The net workload's verdict on a capture of the TAP, one fault of the network or the guest at a time.</summary>
public sealed class NetVerdictTests
{
    private static NetCapture Capture(int sent, IEnumerable<int>? toGuest = null, IEnumerable<(int Seq, int Count)>? answers = null, int foreign = 0, uint drops = 0)
    {
        var g = (toGuest ?? Enumerable.Range(0, sent)).ToList();
        var a = answers ?? Enumerable.Range(0, sent).Select(i => (i, i));
        return new NetCapture([.. Enumerable.Range(0, sent).Select(i => (double)i)], g, [.. a.Select((x, i) => new NetAnswer(x.Seq, x.Count, 100 + i))], foreign, drops);
    }

    [Fact]
    public void AFailureFreeCapturePasses() => Assert.Empty(NetVerdict.Check(Capture(20), serviceContinues: true));

    [Fact]
    public void AFrameOfTheKernelsOwnShiftsTheCountsItIsCountedIn()
    {
        // A stray frame went to the guest before request 3: from there every count is one higher.
        var toGuest = new[] { 0, 1, 2, -1, 3, 4 };
        Assert.Empty(NetVerdict.Check(Capture(5, toGuest, [(0, 0), (1, 1), (2, 2), (3, 4), (4, 5)]), true));
        Assert.Contains(NetVerdict.Check(Capture(5, toGuest), true), v => v.Contains("request 3 says the guest had received 3 frames before it, where 4 went to it", StringComparison.Ordinal));
    }

    [Fact]
    public void ADuplicatedAnswerIsAViolation()
    {
        var v = NetVerdict.Check(Capture(4, answers: [(0, 0), (1, 1), (1, 1), (2, 2), (3, 3)]), true);
        Assert.Equal(["the answer to request 1 is on the TAP twice"], v);
    }

    [Fact]
    public void AMissingAnswerIsAViolationOnlyWhenTheServiceContinues()
    {
        var capture = Capture(4, answers: [(0, 0), (1, 1), (3, 3)]);
        var v = NetVerdict.Check(capture, true);
        Assert.Contains(v, x => x.Contains("the answer to request 3 came where the answer to 2 was due: one missing", StringComparison.Ordinal));
        Assert.Contains(v, x => x.Contains("1 of 4 requests never got an answer on the TAP (first: 2)", StringComparison.Ordinal));
        // A stopped service may leave the tail unanswered, never a hole.
        Assert.Empty(NetVerdict.Check(Capture(4, answers: [(0, 0), (1, 1)]), false));
        Assert.Single(NetVerdict.Check(capture, false));
    }

    [Fact]
    public void AFrameTheGuestGotTwiceShowsInTheCountsAfterIt()
    {
        // Request 1 reached the guest twice (the relay re-sent it to a node that had it logged): the guest answers it twice, and counts one too many from there.
        var v = NetVerdict.Check(Capture(3, answers: [(0, 0), (1, 1), (1, 2), (2, 3)]), true);
        Assert.Contains("the answer to request 1 is on the TAP twice", v);
        Assert.Contains(v, x => x.StartsWith("the answer to request 2 says the guest had received 3 frames", StringComparison.Ordinal));
    }

    [Fact]
    public void ALostCaptureOrAForeignFrameIsNamed()
    {
        Assert.Contains(NetVerdict.Check(Capture(3, drops: 2), true), v => v.StartsWith("the capture socket lost 2 frames", StringComparison.Ordinal));
        Assert.Contains(NetVerdict.Check(Capture(3, foreign: 1), true), v => v.StartsWith("1 frames from the guest", StringComparison.Ordinal));
        Assert.Contains(NetVerdict.Check(Capture(3, toGuest: [0, 2]), true), v => v.StartsWith("the TAP carried 2 of the 3 requests", StringComparison.Ordinal));
    }
}
