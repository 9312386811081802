using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace VmFt.Hypervisor.FaultTolerance.Arbitration;

/// <summary>
/// A throw-away etcd cluster on loopback for tests and benchmarks: N members of Debian's
/// <c>etcd</c> (3.4), each on client and peer ports the kernel picked free, with data in a temporary
/// folder that goes with it. Members can be killed and restarted (with their data) to take quorum
/// away and give it back.
/// </summary>
public sealed class LocalEtcdCluster : IDisposable
{
    private readonly Member[] _members;
    private readonly string _root = Directory.CreateTempSubdirectory("vmft-etcd-").FullName;

    private sealed class Member(string name, int clientPort, int peerPort)
    {
        public string Name => name;
        public int ClientPort => clientPort;
        public int PeerPort => peerPort;
        public Process? Process { get; set; }
        public System.Text.StringBuilder Output { get; } = new();
    }

    private LocalEtcdCluster(int size)
    {
        _members = [.. Enumerable.Range(1, size).Select(i => new Member($"m{i}", FreePort(), FreePort()))];
    }

    /// <summary>Null when Debian's etcd is on PATH, else one line saying what is missing.</summary>
    public static string? Problem => Executable() is null ? "etcd is not installed (Debian: apt-get install etcd-server)" : null;

    /// <summary>The members' client addresses, HOST:PORT each, in order.</summary>
    public IReadOnlyList<string> Endpoints => [.. _members.Select(m => $"127.0.0.1:{m.ClientPort}")];

    /// <summary>The <c>--arbiter</c> value that names this cluster.</summary>
    public string ArbiterAddress => EtcdArbiter.Scheme + string.Join(',', Endpoints);

    /// <summary>Starts <paramref name="size"/> members and waits until the cluster answers a write.</summary>
    public static LocalEtcdCluster Start(int size = 3, TimeSpan? timeout = null)
    {
        if (Problem is { } problem) throw new InvalidOperationException(problem);
        var cluster = new LocalEtcdCluster(size);
        try
        {
            for (int i = 0; i < size; i++) cluster.StartMember(i, fresh: true);
            cluster.WaitForQuorum(timeout ?? TimeSpan.FromSeconds(60));
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Kills member <paramref name="index"/> (SIGKILL), keeping its data for <see cref="Restart"/>.</summary>
    public void Kill(int index)
    {
        var p = _members[index].Process;
        if (p is null) return;
        try
        {
            p.Kill();
            p.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        p.Dispose();
        _members[index].Process = null;
    }

    /// <summary>Starts a killed member again on its own data and ports (nothing when it is running).</summary>
    public void Restart(int index)
    {
        if (_members[index].Process is { HasExited: false }) return;
        StartMember(index, fresh: false);
    }

    /// <summary>Starts every killed member again and waits for a quorum: the whole cluster back, as a test leaves it.</summary>
    public void RestoreAll(TimeSpan timeout)
    {
        for (int i = 0; i < _members.Length; i++) Restart(i);
        WaitForQuorum(timeout);
    }

    /// <summary>Waits until a write through the cluster commits (a quorum of members is up and has a leader).</summary>
    public void WaitForQuorum(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        using var probe = new dotnet_etcd.EtcdClient(string.Join(',', Endpoints.Select(e => "http://" + e)));
        Exception? last = null;
        while (clock.Elapsed < timeout)
        {
            try
            {
                probe.Put("/vmft/probe", "ok", deadline: DateTime.UtcNow.AddSeconds(2));
                return;
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or OperationCanceledException or HttpRequestException or IOException)
            {
                last = e;
                Thread.Sleep(200);
            }
        }
        throw new TimeoutException($"the etcd cluster did not answer a write within {timeout.TotalSeconds:F0} s: {last?.Message}\n{Logs()}");
    }

    /// <summary>What the members printed (for a failing test's evidence).</summary>
    public string Logs() => string.Join('\n', _members.Select(m => { lock (m.Output) return $"--- {m.Name}\n{m.Output}"; }));

    private void StartMember(int index, bool fresh)
    {
        var m = _members[index];
        string data = Path.Combine(_root, m.Name);
        var info = new ProcessStartInfo(Executable()!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string initial = string.Join(',', _members.Select(x => $"{x.Name}=http://127.0.0.1:{x.PeerPort}"));
        foreach (string a in new[]
        {
            "--name", m.Name, "--data-dir", data,
            "--listen-client-urls", $"http://127.0.0.1:{m.ClientPort}", "--advertise-client-urls", $"http://127.0.0.1:{m.ClientPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{m.PeerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{m.PeerPort}",
            "--initial-cluster", initial, "--initial-cluster-state", fresh ? "new" : "existing",
            "--initial-cluster-token", Path.GetFileName(_root),
            // Fast elections: a test's faults last seconds, not minutes.
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--log-level", "warn",
        }) info.ArgumentList.Add(a);
        var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (m.Output) m.Output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (m.Output) m.Output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        m.Process = p;
    }

    private static string? Executable()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string path = Path.Combine(dir, "etcd");
            if (File.Exists(path)) return path;
        }
        return null;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        for (int i = 0; i < _members.Length; i++) Kill(i);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
