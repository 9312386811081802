using System.Collections.Concurrent;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The etcd arbiter against a real three-member etcd cluster on loopback (Debian's etcd 3.4, which
/// CI installs): one winner per generation under contention, a lost member, lost and regained quorum,
/// and the same answers as the in-memory arbiter the simulator uses.
/// </summary>
[Collection(EtcdClusterCollection.Name)]
public sealed class EtcdArbiterTests(EtcdClusterFixture etcd, ITestOutputHelper output)
{
    private EtcdArbiter Arbiter(CancellationToken stop = default) =>
        new(etcd.Cluster.Endpoints, new LinesLoggerFactory(output.WriteLine).CreateLogger("arbiter"), stop)
        {
            AttemptTimeout = TimeSpan.FromSeconds(1),
            RetryDelay = TimeSpan.FromMilliseconds(100),
            ComplaintInterval = TimeSpan.FromSeconds(1),
        };

    private static string NewVm() => "vm-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public void ManyContendersGetExactlyOneWinnerPerGenerationAndTheSameAnswerAgain()
    {
        string vm = NewVm();
        var arbiters = Enumerable.Range(0, 8).Select(_ => Arbiter()).ToArray();
        try
        {
            var wins = new ConcurrentBag<(ulong Generation, int Node)>();
            Parallel.For(0, arbiters.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, node =>
            {
                for (ulong g = 1; g <= 10; g++)
                    if (arbiters[node].TryAcquire(vm, g, $"node{node}")) wins.Add((g, node));
            });
            for (ulong g = 1; g <= 10; g++)
            {
                var winners = wins.Where(w => w.Generation == g).Select(w => w.Node).ToArray();
                Assert.Single(winners);
                for (int node = 0; node < arbiters.Length; node++)
                    Assert.Equal(node == winners[0], arbiters[node].TryAcquire(vm, g, $"node{node}"));
            }
        }
        finally
        {
            foreach (var a in arbiters) a.Dispose();
        }
    }

    [Fact]
    public void AnswersAreTheInMemoryArbitersForTheSameCalls()
    {
        // The simulator's arbiter stands in for this one: the same sequence of calls, the same answers.
        var random = new Random(20261203);
        string vm = NewVm();
        var memory = new InMemoryArbiter();
        using var real = Arbiter();
        for (int i = 0; i < 60; i++)
        {
            ulong generation = (ulong)random.Next(1, 8);
            string node = "n" + random.Next(3);
            Assert.Equal(memory.TryAcquire(vm, generation, node), real.TryAcquire(vm, generation, node));
        }
    }

    [Fact]
    public async Task OneMemberLostLeavesAQuorumAndTwoLostLeaveNobodyLiveUntilItReturns()
    {
        string vm = NewVm();
        using var a = Arbiter();
        using var b = Arbiter();
        try
        {
            etcd.Cluster.Kill(0);
            Assert.True(a.TryAcquire(vm, 1, "a"));
            Assert.False(b.TryAcquire(vm, 1, "b"));

            etcd.Cluster.Kill(1);
            var waiting = Task.Run(() => b.TryAcquire(vm, 2, "b"));
            Assert.NotSame(waiting, await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(4))));
            Assert.True(b.Unanswered > 0);

            etcd.Cluster.Restart(1);
            Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(60)), "the contender lost a generation nobody held");
            Assert.False(a.TryAcquire(vm, 2, "a"));
            Assert.True(a.TryAcquire(vm, 1, "a"), "the older generation's answer changed");
        }
        finally
        {
            etcd.Cluster.RestoreAll(TimeSpan.FromSeconds(60));
        }
    }

    [Fact]
    public async Task AWaitForAnAnswerEndsWhenTheNodeStops()
    {
        string vm = NewVm();
        using var stop = new CancellationTokenSource();
        using var arbiter = Arbiter(stop.Token);
        try
        {
            etcd.Cluster.Kill(0);
            etcd.Cluster.Kill(1);
            var waiting = Task.Run(() => arbiter.TryAcquire(vm, 1, "a"));
            await Task.Delay(1500);
            Assert.False(waiting.IsCompleted, $"an answer without a quorum: {waiting.Exception?.InnerException?.ToString() ?? "true or false"}");
            stop.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            etcd.Cluster.RestoreAll(TimeSpan.FromSeconds(60));
        }
    }

    [Fact]
    public async Task AStopThatComesAsAnAttemptsDeadlineExpiresStillEndsTheWaitAsCancelled()
    {
        // Without a quorum every attempt ends at its deadline; stops spread over several attempts'
        // worth of time land, some of them, in the moment an attempt's deadline expires. Each wait
        // must end cancelled, never with the attempt's RPC error (CI once saw DeadlineExceeded).
        const int Contenders = 40;
        var stops = Enumerable.Range(0, Contenders).Select(_ => new CancellationTokenSource()).ToArray();
        var arbiters = stops.Select(s => new EtcdArbiter(etcd.Cluster.Endpoints, new LinesLoggerFactory(_ => { }).CreateLogger("arbiter"), s.Token)
        {
            AttemptTimeout = TimeSpan.FromMilliseconds(100),
            RetryDelay = TimeSpan.FromMilliseconds(1),
            ComplaintInterval = TimeSpan.FromSeconds(10),
        }).ToArray();
        try
        {
            etcd.Cluster.Kill(0);
            etcd.Cluster.Kill(1);
            string vm = NewVm();
            // A thread each: forty blocking calls on the pool would starve it (and the stops with it).
            var waits = arbiters.Select((a, i) => Task.Factory.StartNew(() => a.TryAcquire(vm, 1, "c" + i), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
            await Task.Delay(300);
            for (int i = 0; i < Contenders; i++)
            {
                stops[i].Cancel();
                await Task.Delay(7);
            }
            for (int i = 0; i < Contenders; i++)
            {
                var ended = await Record.ExceptionAsync(() => waits[i].WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.True(ended is OperationCanceledException, $"contender {i}'s wait ended with {ended?.GetType().Name ?? "an answer"}: {ended?.Message}");
            }
        }
        finally
        {
            foreach (var a in arbiters) a.Dispose();
            foreach (var s in stops) s.Dispose();
            etcd.Cluster.RestoreAll(TimeSpan.FromSeconds(60));
        }
    }

    [Theory]
    [InlineData("etcd://127.0.0.1:2379", "127.0.0.1:2379")]
    [InlineData("etcd://a:1,b:2,c:3", "a:1|b:2|c:3")]
    [InlineData("ETCD://[::1]:2379", "[::1]:2379")]
    public void AddressesNameEveryMember(string text, string members) =>
        Assert.Equal(members.Split('|'), EtcdArbiter.ParseAddress(text));

    [Theory]
    [InlineData("etcd://", "no member after etcd://")]
    [InlineData("etcd://host", "member 'host' is not HOST:PORT")]
    [InlineData("etcd://host:", "member 'host:' is not HOST:PORT")]
    [InlineData("etcd://a:1,,b:2", "member '' is not HOST:PORT")]
    [InlineData("etcd://a:99999", "no port between 1 and 65535")]
    [InlineData("etcd://a:0", "no port between 1 and 65535")]
    [InlineData("etcd://a/b:1", "member 'a/b:1' is not HOST:PORT")]
    public void BadAddressesSayWhatIsWrong(string text, string message) =>
        Assert.Contains(message, Assert.Throws<FormatException>(() => EtcdArbiter.ParseAddress(text)).Message);

    [Fact]
    public void ADirectoryIsNotAnEtcdAddress() => Assert.Null(EtcdArbiter.ParseAddress("/tmp/arbiter"));
}

/// <summary>FT processes arbitrated by the etcd cluster: failover with a member lost, and with quorum lost until it returns.</summary>
[Collection(EtcdClusterCollection.Name)]
public sealed class EtcdFailoverTests(EtcdClusterFixture etcd, ITestOutputHelper output)
{
    [Fact]
    public async Task APrimaryKilledWithOneEtcdMemberDownFailsOver()
    {
        try
        {
            _ = await ProcessFailoverTests.KillSessionAsync(output, etcd.Cluster.ArbiterAddress, atKill: () => etcd.Cluster.Kill(2));
        }
        finally
        {
            etcd.Cluster.RestoreAll(TimeSpan.FromSeconds(60));
        }
    }

    [Fact]
    public async Task WithoutQuorumNobodyGoesLiveAndTheServiceResumesWhenItReturns()
    {
        try
        {
            string lines = await ProcessFailoverTests.KillSessionAsync(output, etcd.Cluster.ArbiterAddress,
                atKill: () =>
                {
                    etcd.Cluster.Kill(0);
                    etcd.Cluster.Kill(1);
                },
                afterKill: () => Task.Run(async () =>
                {
                    // The backup waits for an answer (the client's requests wait with it), then goes live.
                    await Task.Delay(TimeSpan.FromSeconds(6));
                    etcd.Cluster.Restart(1);
                }));
            Assert.Contains("[backup] arbiter: no answer from etcd", lines);
            Assert.True(lines.IndexOf("arbiter: no answer", StringComparison.Ordinal) < lines.IndexOf("backup: live as generation 1", StringComparison.Ordinal));
        }
        finally
        {
            etcd.Cluster.RestoreAll(TimeSpan.FromSeconds(60));
        }
    }
}

/// <summary>One etcd cluster for the tests that need it (starting one takes a second or two).</summary>
public sealed class EtcdClusterFixture : IDisposable
{
    private readonly LocalEtcdCluster? _cluster;

    public EtcdClusterFixture()
    {
        if (LocalEtcdCluster.Problem is null) _cluster = LocalEtcdCluster.Start();
    }

    /// <summary>The cluster; fails the calling test with one line when etcd is not installed (CI installs it).</summary>
    public LocalEtcdCluster Cluster => _cluster ?? throw new Xunit.Sdk.XunitException(LocalEtcdCluster.Problem);

    public void Dispose() => _cluster?.Dispose();
}

[CollectionDefinition(Name)]
public sealed class EtcdClusterCollection : ICollectionFixture<EtcdClusterFixture>
{
    public const string Name = "etcd cluster";
}
