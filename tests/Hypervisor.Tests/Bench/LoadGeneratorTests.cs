using System.Net;
using System.Net.Sockets;
using System.Text;
using VmFt.Hypervisor.Bench.Faults;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>
/// The client's drain on a clock the test moves: a server that keeps answering, however slowly,
/// is waited for; one that stops answering is given up on after the quiet limit.
/// </summary>
public class LoadGeneratorTests
{
    private sealed class Server : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        public TcpClient Client { get; } = new();
        public NetworkStream ServerSide { get; }

        public Server()
        {
            _listener.Start();
            Client.Connect((IPEndPoint)_listener.LocalEndpoint);
            ServerSide = _listener.AcceptTcpClient().GetStream();
        }

        /// <summary>The requests as they arrive: "cN ID ...".</summary>
        public IEnumerable<(string Client, string Id)> Requests()
        {
            var reader = new StreamReader(ServerSide, Encoding.ASCII);
            while (reader.ReadLine() is { } line)
            {
                var parts = line.Split(' ');
                yield return (parts[0], parts[1]);
            }
        }

        /// <summary>
        /// Replies and waits until the generator has read the reply, so it is stamped with the test's clock
        /// as it is now: a reader thread slow to wake would otherwise see it a few steps of the clock later.
        /// </summary>
        public void Reply(LoadGenerator generator, string client, string id)
        {
            var bytes = Encoding.ASCII.GetBytes($"{client} {id} VALUE x\n");
            long expected = generator.Received + bytes.Length;
            ServerSide.Write(bytes);
            SpinWait.SpinUntil(() => generator.Received >= expected, TimeSpan.FromSeconds(30));
        }

        public void Dispose()
        {
            Client.Dispose();
            ServerSide.Dispose();
            _listener.Stop();
        }
    }

    /// <summary>
    /// The test's clock. It moves only when the test says, and each step waits until the generator has
    /// read the clock again, so the drain looks at every step whatever the machine's load: a clock that
    /// ran on real sleeps let a drain starved of threads see only the end.
    /// </summary>
    private sealed class TestClock
    {
        private double _now;
        private long _reads;

        public double Read()
        {
            Interlocked.Increment(ref _reads);
            return Volatile.Read(ref _now);
        }

        /// <summary>Lets <paramref name="ms"/> pass in steps of 0.1 s, each seen by the generator (or until <paramref name="draining"/> ended).</summary>
        public void Pass(int ms, Task draining)
        {
            for (int passed = 0; passed < ms; passed += 100)
            {
                long before = Interlocked.Read(ref _reads);
                Volatile.Write(ref _now, Volatile.Read(ref _now) + 100);
                if (!SpinWait.SpinUntil(() => Interlocked.Read(ref _reads) > before + 1 || draining.IsCompleted, TimeSpan.FromSeconds(30)))
                    throw new TimeoutException("the drain stopped reading the clock");
            }
        }
    }

    private static (LoadGenerator Generator, TestClock Clock) Start(Server server, int clients)
    {
        var clock = new TestClock();
        var generator = new LoadGenerator(server.Client.GetStream(), new ClientTrace(), clock.Read, clients, rate: 0,
            retryTimeout: TimeSpan.FromHours(1), seed: 1);
        new Thread(generator.ReadAll) { IsBackground = true }.Start();
        return (generator, clock);
    }

    /// <summary>The server's side of a test runs on a thread of its own, not the pool the drain's continuations need.</summary>
    private static Task OnOwnThread(Action action) => Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    public async Task A_server_that_keeps_answering_slowly_is_waited_for_past_the_quiet_limit()
    {
        using var server = new Server();
        var (generator, clock) = Start(server, clients: 4);
        generator.Burst(); // one request per client
        var draining = generator.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None, ceiling: TimeSpan.FromSeconds(60));
        var answering = OnOwnThread(() =>
        {
            foreach (var (client, id) in server.Requests().Take(4))
            {
                clock.Pass(800, draining); // each reply 0.8 s after the one before: 3.2 s in all, more than the 1 s quiet limit
                server.Reply(generator, client, id);
            }
        });
        Assert.True(await draining.WaitAsync(TimeSpan.FromSeconds(60)));
        await answering;
    }

    [Fact]
    public async Task A_server_that_stops_answering_is_given_up_on()
    {
        using var server = new Server();
        var (generator, clock) = Start(server, clients: 2);
        generator.Burst();
        var draining = generator.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None, ceiling: TimeSpan.FromSeconds(60));
        var answering = OnOwnThread(() =>
        {
            var (client, id) = server.Requests().First();
            server.Reply(generator, client, id);
            clock.Pass(5_000, draining); // then 5 s of silence
        });
        Assert.False(await draining.WaitAsync(TimeSpan.FromSeconds(60)));
        await answering;
    }

    [Fact]
    public async Task The_ceiling_bounds_a_drain_whose_replies_keep_coming()
    {
        using var server = new Server();
        var (generator, clock) = Start(server, clients: 3);
        generator.Burst();
        var draining = generator.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None, ceiling: TimeSpan.FromSeconds(1.5));
        var answering = OnOwnThread(() =>
        {
            foreach (var (client, id) in server.Requests().Take(3))
            {
                clock.Pass(900, draining);
                server.Reply(generator, client, id);
            }
        });
        // Replies 0.9 s apart would keep it going past the 1 s limit to the third at 2.7 s; the 1.5 s ceiling ends it first.
        Assert.False(await draining.WaitAsync(TimeSpan.FromSeconds(60)));
        await answering;
    }
}
