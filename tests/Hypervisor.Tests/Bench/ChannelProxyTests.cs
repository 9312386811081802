using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using VmFt.Hypervisor.Bench.Faults;
using Xunit;

namespace VmFt.Hypervisor.Tests.Bench;

/// <summary>The fault bench's logging-channel proxy over loopback: forwards, delays, pauses and partitions.</summary>
public sealed class ChannelProxyTests : IDisposable
{
    private readonly TcpListener _server = new(IPAddress.Loopback, 0);

    public ChannelProxyTests() => _server.Start();

    public void Dispose() => _server.Stop();

    private (ChannelProxy Proxy, NetworkStream Client, NetworkStream Server, TcpClient A, Socket B) Connect()
    {
        var proxy = ChannelProxy.Start((IPEndPoint)_server.LocalEndpoint);
        var a = new TcpClient();
        a.Connect(proxy.LocalEndPoint);
        var b = _server.AcceptSocket();
        return (proxy, a.GetStream(), new NetworkStream(b, ownsSocket: true), a, b);
    }

    private static byte[] ReadExactly(NetworkStream s, int n, int timeoutMs = 5000)
    {
        s.ReadTimeout = timeoutMs;
        var buffer = new byte[n];
        s.ReadExactly(buffer);
        return buffer;
    }

    [Fact]
    public void ForwardsBothWays()
    {
        var (proxy, client, server, a, _) = Connect();
        using var __ = proxy;
        using var ___ = a;
        client.Write("hello"u8);
        Assert.Equal("hello"u8.ToArray(), ReadExactly(server, 5));
        server.Write("back"u8);
        Assert.Equal("back"u8.ToArray(), ReadExactly(client, 4));
        // The count is bumped after the send completes, which the reader may beat: wait for it.
        SpinWait.SpinUntil(() => proxy.BytesForwarded == 9, TimeSpan.FromSeconds(5));
        Assert.Equal(9, proxy.BytesForwarded);
    }

    [Fact]
    public void DelayHoldsBytesBack()
    {
        var (proxy, client, server, a, _) = Connect();
        using var __ = proxy;
        using var ___ = a;
        proxy.Delay = TimeSpan.FromMilliseconds(300);
        var clock = Stopwatch.StartNew();
        client.Write("x"u8);
        Assert.Equal("x"u8.ToArray(), ReadExactly(server, 1));
        // The byte cannot have arrived before its delay (a lower bound only: no upper timing assert).
        Assert.True(clock.ElapsedMilliseconds >= 290, $"arrived after {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void PauseStopsTheStreamAndResumeDeliversItInOrder()
    {
        var (proxy, client, server, a, _) = Connect();
        using var __ = proxy;
        using var ___ = a;
        proxy.Paused = true;
        client.Write("abc"u8);
        server.ReadTimeout = 300;
        Assert.ThrowsAny<IOException>(() => server.ReadExactly(new byte[1]));
        proxy.Paused = false;
        client.Write("def"u8);
        Assert.Equal("abcdef"u8.ToArray(), ReadExactly(server, 6));
    }

    [Fact]
    public void PartitionDropsEverythingButKeepsTheConnectionOpen()
    {
        var (proxy, client, server, a, _) = Connect();
        using var __ = proxy;
        using var ___ = a;
        proxy.Partition();
        client.Write("lost"u8);
        server.Write("lost too"u8);
        server.ReadTimeout = 300;
        Assert.ThrowsAny<IOException>(() => server.ReadExactly(new byte[1]));
        client.ReadTimeout = 300;
        Assert.ThrowsAny<IOException>(() => client.ReadExactly(new byte[1]));
        Assert.True(a.Connected);
        // Both writes were read by the proxy and dropped.
        var until = Stopwatch.StartNew();
        while (proxy.BytesDropped < 12 && until.ElapsedMilliseconds < 5000) Thread.Sleep(5);
        Assert.Equal(12, proxy.BytesDropped);
    }

    [Fact]
    public void ClosingOneEndClosesTheOther()
    {
        var (proxy, client, server, a, _) = Connect();
        using var __ = proxy;
        a.Close();
        server.ReadTimeout = 5000;
        Assert.Equal(0, server.Read(new byte[1]));
    }

    [Fact]
    public void Stopping_a_proxy_twice_is_harmless()
    {
        // A run whose every start-up attempt failed stops its proxy after the attempt and again at its end.
        var proxy = ChannelProxy.Start(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 9));
        proxy.Dispose();
        proxy.Dispose();
    }
}
