using VmFt.Guest.Images;
using VmFt.Hypervisor.Simulation;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// Failover in the deterministic simulator: whatever fails and whenever, the client's transcript is
/// the failure-free one (or, when both nodes die, a prefix of it: nothing wrong is ever emitted).
/// </summary>
public class SimulatedFailoverTests
{
    internal static readonly string[] Requests =
    [
        "c1 1 PUT alpha one", "c1 2 GET alpha", "c2 1 INCR n", "c2 2 INCR n", "c1 3 PUT beta two",
        "c2 3 GET n", "c1 4 DEL alpha", "c1 5 GET alpha", "c2 4 INCR n", "c1 6 GET beta",
    ];

    internal static SimulationOptions Options(int seed) => new()
    {
        Image = BundledImages.Get("kvstore"),
        ImageName = "kvstore",
        Seed = seed,
        ClientLines = Requests,
        ExpectedReplyLines = Requests.Length + 1, // the banner, then one reply per request
    };

    private static readonly Dictionary<int, string> Baselines = [];

    internal static string Baseline(int seed)
    {
        lock (Baselines)
        {
            if (!Baselines.TryGetValue(seed, out var t))
            {
                var r = new FtSimulation(Options(seed)).Run(FaultPlan.None);
                Assert.True(r.Completed, "the failure-free run must complete");
                Baselines[seed] = t = r.Transcript;
            }
            return t;
        }
    }

    [Fact]
    public void Failure_free_run_serves_every_request()
    {
        string t = Baseline(1);
        Assert.StartsWith("kvstore ready\n", t.Replace("\r", ""));
        Assert.Contains("c2 4 VALUE 3", t);
        Assert.Contains("c1 5 NOTFOUND", t);
    }

    public static TheoryData<FaultKind, int, int> Schedules()
    {
        var data = new TheoryData<FaultKind, int, int>();
        foreach (var kind in new[] { FaultKind.CrashPrimary, FaultKind.CrashBackup, FaultKind.Partition })
            foreach (int at in new[] { 1, 2, 5, 9, 14, 20, 27, 33, 41 })
                foreach (int seed in new[] { 1, 2 })
                    data.Add(kind, at, seed);
        return data;
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Transcript_is_identical_after_any_single_failure(FaultKind kind, int atStep, int seed)
    {
        var result = new FtSimulation(Options(seed)).Run(new FaultPlan(kind, atStep));
        Assert.Empty(result.Violations);
        Assert.True(result.Completed, $"{kind}@{atStep}: service did not complete; transcript so far:\n{result.Transcript}");
        Assert.Equal(Baseline(seed), result.Transcript);
        // The fault really happened before the work was done, and was handled the way it must be.
        if (kind == FaultKind.CrashPrimary && atStep < 30) Assert.Equal("B", result.LiveNodeAtEnd);
        if (kind == FaultKind.CrashBackup) Assert.Equal("A", result.LiveNodeAtEnd);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(17)]
    [InlineData(30)]
    public void When_the_new_primary_dies_too_the_service_stops_without_emitting_anything_wrong(int atStep)
    {
        var result = new FtSimulation(Options(1)).Run(new FaultPlan(FaultKind.CrashPrimaryThenNewPrimary, atStep));
        Assert.False(result.Completed);
        Assert.StartsWith(result.Transcript, Baseline(1));
    }
}
