using VmFt.Hypervisor.FaultTolerance.Arbitration;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>The file arbiter: one winner per generation, for ever, whatever dies where.</summary>
public sealed class FileArbiterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vmft-arbiter-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Of_many_claimants_at_once_exactly_one_wins_and_everyone_hears_the_same_answer_again()
    {
        for (ulong generation = 1; generation <= 20; generation++)
        {
            var start = new ManualResetEventSlim();
            var claims = Enumerable.Range(0, 8).Select(i => Task.Run(() =>
            {
                start.Wait();
                return (Node: $"node{i}", Won: new FileArbiter(_dir).TryAcquire("vm", generation, $"node{i}"));
            })).ToArray();
            start.Set();
            var results = await Task.WhenAll(claims);
            var winner = Assert.Single(results, r => r.Won).Node;
            foreach (var (node, _) in results)
                Assert.Equal(node == winner, new FileArbiter(_dir).TryAcquire("vm", generation, node));
            Assert.Equal(winner, File.ReadAllText(Path.Combine(_dir, $"vm.gen{generation}.owner")));
        }
        Assert.Empty(Directory.GetFiles(_dir, "*.claim-*")); // claims are cleaned up
    }

    [Fact]
    public void A_claimant_that_dies_before_its_claim_is_linked_leaves_the_generation_to_the_other()
    {
        var dying = new FileArbiter(_dir) { BeforeLink = () => throw new OperationCanceledException("killed") };
        Assert.Throws<OperationCanceledException>(() => dying.TryAcquire("vm", 1, "primary"));
        Assert.False(File.Exists(Path.Combine(_dir, "vm.gen1.owner")));

        Assert.True(new FileArbiter(_dir).TryAcquire("vm", 1, "backup"));
        Assert.False(new FileArbiter(_dir).TryAcquire("vm", 1, "primary"));
    }

    [Fact]
    public void The_owner_file_is_never_empty_when_it_exists()
    {
        // The one a reader finds holds the winner's whole id: it is a second name of a synced claim.
        Assert.True(new FileArbiter(_dir).TryAcquire("vm", 7, "a-rather-long-node-identifier"));
        Assert.Equal("a-rather-long-node-identifier", File.ReadAllText(Path.Combine(_dir, "vm.gen7.owner")));
    }
}
