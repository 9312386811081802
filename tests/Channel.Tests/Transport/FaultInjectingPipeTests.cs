using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using VmFt.Channel.Transport;
using static VmFt.Channel.Tests.ChannelTestKit;

namespace VmFt.Channel.Tests.Transport;

public class FaultInjectingPipeTests
{
    private static async Task SendAsync(IDuplexPipe end, byte[] bytes) => await end.Output.WriteAsync(bytes);

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    private static async Task<byte[]> ReceiveAsync(IDuplexPipe end, int count)
    {
        using var cts = new CancellationTokenSource(Patience);
        var got = new List<byte>();
        while (got.Count < count)
        {
            var result = await end.Input.ReadAsync(cts.Token);
            var take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, count - got.Count));
            got.AddRange(take.ToArray());
            end.Input.AdvanceTo(take.End);
            if (result.IsCompleted && got.Count < count)
                throw new IOException("ended early");
        }
        return got.ToArray();
    }

    [Fact]
    public async Task Without_faults_bytes_pass_both_ways_unchanged()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        await using var faulty = new FaultInjectingPipe(a);
        var data = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 31)).ToArray();

        await SendAsync(faulty, data);
        Assert.Equal(data, await ReceiveAsync(b, data.Length));
        await SendAsync(b, [9, 8, 7]);
        Assert.Equal(new byte[] { 9, 8, 7 }, await ReceiveAsync(faulty, 3));
    }

    [Fact]
    public async Task Latency_delays_delivery_by_at_least_the_latency()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        await using var faulty = new FaultInjectingPipe(a) { Latency = TimeSpan.FromMilliseconds(300) };
        var clock = Stopwatch.StartNew();

        await SendAsync(faulty, [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, await ReceiveAsync(b, 3));

        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(280), $"arrived after {clock.Elapsed}");
    }

    [Fact]
    public async Task Throttle_limits_the_rate()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        await using var faulty = new FaultInjectingPipe(a) { ThrottleBytesPerSecond = 20_000 };
        var clock = Stopwatch.StartNew();

        await SendAsync(faulty, new byte[10_000]);
        await ReceiveAsync(b, 10_000);

        // 10 000 bytes at 20 000 B/s cannot arrive in much under half a second.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(400), $"arrived after {clock.Elapsed}");
    }

    [Fact]
    public async Task Pause_holds_bytes_until_resume_and_loses_none()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        await using var faulty = new FaultInjectingPipe(a);
        faulty.Pause();

        await SendAsync(faulty, [1, 2]);
        await SendAsync(b, [3]);
        var toPeer = ReceiveAsync(b, 2);
        var toUs = ReceiveAsync(faulty, 1);
        await Task.Delay(300);
        Assert.False(toPeer.IsCompleted);
        Assert.False(toUs.IsCompleted);

        faulty.Resume();
        Assert.Equal(new byte[] { 1, 2 }, await toPeer);
        Assert.Equal(new byte[] { 3 }, await toUs);
    }

    [Fact]
    public async Task Partition_discards_both_directions_and_heal_restores_them()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        await using var faulty = new FaultInjectingPipe(a);
        faulty.Partition();

        await SendAsync(faulty, [1, 2, 3]);
        await SendAsync(b, [4, 5]);
        Assert.True(await EventuallyAsync(() => faulty.DiscardedBytes == 5));

        faulty.Heal();
        await SendAsync(faulty, [6]);
        await SendAsync(b, [7]);
        Assert.Equal(new byte[] { 6 }, await ReceiveAsync(b, 1));
        Assert.Equal(new byte[] { 7 }, await ReceiveAsync(faulty, 1));
    }

    [Fact]
    public async Task Drop_fails_this_end_and_ends_the_peer()
    {
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var faulty = new FaultInjectingPipe(a);

        faulty.Drop();
        await faulty.Completion.WaitAsync(Patience);

        await Assert.ThrowsAsync<IOException>(async () => await faulty.Input.ReadAsync());
        await Assert.ThrowsAsync<IOException>(async () => await faulty.Output.WriteAsync(new byte[] { 1 }));
        bool peerEnded;
        try
        {
            peerEnded = (await b.Input.ReadAsync().AsTask().WaitAsync(Patience)).IsCompleted;
        }
        catch (IOException)
        {
            peerEnded = true;
        }
        Assert.True(peerEnded);
        Assert.True(faulty.IsDropped);
    }
}
