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

        public void Reply(string client, string id) => ServerSide.Write(Encoding.ASCII.GetBytes($"{client} {id} VALUE x\n"));

        public void Dispose()
        {
            Client.Dispose();
            ServerSide.Dispose();
            _listener.Stop();
        }
    }

    private static (LoadGenerator Generator, Func<double, double> Advance) Start(Server server, int clients)
    {
        double now = 0;
        var generator = new LoadGenerator(server.Client.GetStream(), new ClientTrace(), () => Volatile.Read(ref now), clients, rate: 0,
            retryTimeout: TimeSpan.FromHours(1), seed: 1);
        new Thread(generator.ReadAll) { IsBackground = true }.Start();
        return (generator, ms => Interlocked.Exchange(ref now, Volatile.Read(ref now) + ms) + ms);
    }

    /// <summary>Lets <paramref name="ms"/> of the test's clock pass in steps of 0.1 s, slowly enough for the drain to look at each.</summary>
    private static void Pass(Func<double, double> advance, int ms)
    {
        for (int passed = 0; passed < ms; passed += 100)
        {
            advance(100);
            Thread.Sleep(10);
        }
    }

    [Fact]
    public async Task A_server_that_keeps_answering_slowly_is_waited_for_past_the_quiet_limit()
    {
        using var server = new Server();
        var (generator, advance) = Start(server, clients: 4);
        generator.Burst(); // one request per client
        var answering = Task.Run(() =>
        {
            foreach (var (client, id) in server.Requests().Take(4))
            {
                Pass(advance, 800); // each reply 0.8 s after the one before: 3.2 s in all, more than the 1 s quiet limit
                server.Reply(client, id);
            }
        });
        bool all = await generator.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None, ceiling: TimeSpan.FromSeconds(60));
        Assert.True(all);
        await answering;
    }

    [Fact]
    public async Task A_server_that_stops_answering_is_given_up_on()
    {
        using var server = new Server();
        var (generator, advance) = Start(server, clients: 2);
        generator.Burst();
        var answering = Task.Run(() =>
        {
            var (client, id) = server.Requests().First();
            server.Reply(client, id);
            Pass(advance, 5_000); // then 5 s of silence
        });
        var draining = generator.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None, ceiling: TimeSpan.FromSeconds(60));
        Assert.False(await draining.WaitAsync(TimeSpan.FromSeconds(60)));
        await answering;
    }

    [Fact]
    public async Task The_ceiling_bounds_a_drain_whose_replies_keep_coming()
    {
        using var server = new Server();
        var (generator, advance) = Start(server, clients: 3);
        generator.Burst();
        var answering = Task.Run(() =>
        {
            foreach (var (client, id) in server.Requests().Take(3))
            {
                Pass(advance, 900);
                server.Reply(client, id);
            }
        });
        // Replies 0.9 s apart would keep it going past the 1 s limit to the third at 2.7 s; the 1.5 s ceiling ends it first.
        Assert.False(await generator.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None, ceiling: TimeSpan.FromSeconds(1.5)).WaitAsync(TimeSpan.FromSeconds(60)));
        await answering;
    }
}
