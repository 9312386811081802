using VmFt.Hypervisor.Conformance;
using Xunit;

namespace VmFt.Hypervisor.Tests.Conformance;

public sealed class SingleStepConformanceTests
{
    [Fact]
    public void EveryRecorded286VectorMatches()
    {
        string dir = RepositoryPaths.Real286Vectors;
        Assert.True(Directory.Exists(dir), $"the 286 vectors are expected at {dir}");
        var summary = new StringWriter();
        var details = new StringWriter();
        var totals = SingleStepSuite.Run(dir, summary, details: details, maxDetailsPerFile: 2);

        // The suite holds ~32,500 vectors; a run that compared almost nothing proves nothing.
        Assert.True(totals.Passed + totals.Failed > 30_000, summary.ToString());
        Assert.True(totals.Failed == 0,
            $"{totals.Failed} vectors failed\n{FailingFiles(summary.ToString())}\n{Truncate(details.ToString(), 20_000)}");
    }

    private static string FailingFiles(string summary) =>
        string.Join('\n', summary.Split('\n').Where(l => !l.Contains("   0 failed") && l.Contains("failed")));

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "\n...";
}
