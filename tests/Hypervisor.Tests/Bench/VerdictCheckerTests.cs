using VmFt.Hypervisor.Bench.Faults;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>The fault bench's checker on crafted transcripts: it passes a clean run and fails each kind of damage.</summary>
public class VerdictCheckerTests
{
    private static readonly string[] Sent = ["c0 1 PUT a x", "c1 1 INCR n", "c0 2 GET a", "c1 2 INCR n"];
    private const string Clean = "kvstore ready\nc0 1 OK\nc1 1 VALUE 1\nc0 2 VALUE x\nc1 2 VALUE 2\n";
    private static readonly LiveInterval[] OneAtATime =
    [
        new("primary", 0, 100, "generation 0"),
        new("backup", 100, 200, "live as generation 1"),
    ];

    private static List<string> Check(string got, bool continues = true, IReadOnlyList<string>? sent = null, IReadOnlyList<LiveInterval>? live = null, string reference = Clean) =>
        VerdictChecker.Check(reference, got, continues, sent ?? Sent, live ?? OneAtATime, [new("backup", 1)]);

    [Fact]
    public void CleanRunPasses() => Assert.Empty(Check(Clean));

    [Fact]
    public void LostByteFails()
    {
        var v = Check(Clean.Remove(20, 1));
        Assert.Contains(v, x => x.Contains("transcript differs"));
    }

    [Fact]
    public void MissingTailFailsWhenTheServiceContinues()
    {
        string cut = Clean[..Clean.IndexOf("c1 2", StringComparison.Ordinal)];
        Assert.Contains(Check(cut), x => x.Contains("transcript ends"));
        Assert.Contains(Check(cut), x => x.Contains("never got a reply"));
    }

    [Fact]
    public void PrefixPassesWhenTheServiceMustStop() =>
        Assert.Empty(Check(Clean[..Clean.IndexOf("c1 2", StringComparison.Ordinal)], continues: false));

    [Fact]
    public void AnythingBeyondTheReferenceFailsEvenWhenTheServiceStops()
    {
        var v = Check(Clean + "c1 2 VALUE 2\n", continues: false);
        Assert.Contains(v, x => x.Contains("beyond the failure-free run"));
        Assert.Contains(v, x => x.Contains("duplicated response"));
    }

    [Fact]
    public void DuplicatedResponseFails()
    {
        string dup = Clean.Replace("c0 2 VALUE x\n", "c0 2 VALUE x\nc0 2 VALUE x\n");
        var v = Check(dup, reference: dup); // even against a reference that has it: one send, two replies
        Assert.Contains(v, x => x.Contains("c0 2: 2 replies to 1 send"));
    }

    [Fact]
    public void RetriedRequestMayBeAnsweredTwice()
    {
        string[] sent = [.. Sent, "c1 2 INCR n"];
        string got = Clean + "c1 2 VALUE 2\n";
        Assert.Empty(Check(got, sent: sent, reference: got));
    }

    [Fact]
    public void ReorderedResponseFails()
    {
        string[] sent = ["c0 1 PUT a x", "c0 2 GET a"];
        string reordered = "kvstore ready\nc0 2 VALUE x\nc0 1 OK\n";
        var v = Check(reordered, sent: sent, reference: reordered);
        Assert.Contains(v, x => x.Contains("reordered"));
    }

    [Fact]
    public void RequestExecutedTwiceFails()
    {
        // The second INCR says 3: something ran the first one twice.
        string twice = Clean.Replace("c1 2 VALUE 2", "c1 2 VALUE 3");
        var v = Check(twice, reference: twice);
        Assert.Contains(v, x => x.Contains("executed twice"));
    }

    [Fact]
    public void ReplyToARequestNeverSentFails() =>
        Assert.Contains(Check(Clean + "c5 9 OK\n", reference: Clean + "c5 9 OK\n"), x => x.Contains("never sent"));

    [Fact]
    public void TwoLiveNodesFail()
    {
        LiveInterval[] overlap = [new("primary", 0, 150, "generation 0"), new("backup", 100, 200, "live as generation 1")];
        var v = Check(Clean, live: overlap);
        Assert.Contains(v, x => x.Contains("two live nodes") && x.Contains("100.0 to 150.0"));
    }

    [Fact]
    public void TwoArbiterWinnersFail() =>
        Assert.Contains(VerdictChecker.Check(Clean, Clean, true, Sent, OneAtATime, [new("primary", 1), new("backup", 1)]), x => x.Contains("arbiter was won by primary and backup for generation 1"));

    [Fact]
    public void Winners_of_successive_generations_are_no_split_brain() =>
        Assert.Empty(VerdictChecker.Check(Clean, Clean, true, Sent, OneAtATime, [new("backup", 1), new("primary", 2)]));

    [Fact]
    public void CpubenchCyclesAreMasked() =>
        Assert.Equal("cpubench checksum=0x1 tsc_cycles=*\n", VerdictChecker.Normalize("cpubench checksum=0x1 tsc_cycles=123456\n"));
}
