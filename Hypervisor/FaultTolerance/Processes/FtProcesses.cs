using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// Backup, primary and relay as child processes of this vmft (<c>dotnet vmft.dll ...</c>) on
/// loopback, with a fresh arbiter directory. Each child listens on a port of its own choosing and
/// prints it, and only then is the next one started with it: no port is picked in advance, so none
/// can be taken by someone else in between. Every line a child prints goes to <see cref="Line"/> and
/// is kept (<see cref="ChildProcess.Lines"/>).
/// </summary>
public sealed partial class FtProcesses : IDisposable
{
    private readonly List<ChildProcess> _children = [];
    private readonly Stopwatch _started = Stopwatch.StartNew();

    public ChildProcess? Backup { get; private set; }
    /// <summary>The primary (or, after <see cref="StartSoloAsync"/>, the guest running alone).</summary>
    public ChildProcess? Primary { get; private set; }
    public ChildProcess? Relay { get; private set; }
    public IReadOnlyList<ChildProcess> Children
    {
        get { lock (_children) return [.. _children]; }
    }
    public string ArbiterDirectory { get; } = Directory.CreateTempSubdirectory("vmft-arbiter-").FullName;

    /// <summary>Every line a child prints, as it arrives (on the threads that read the children's output).</summary>
    public Action<ChildLine>? Line { get; init; }

    /// <summary>The clock stamped on every line, in milliseconds (default: since this object was made).</summary>
    public Func<double>? Clock { get; init; }

    /// <summary>How to start a child with these vmft arguments (default: this vmft again, <see cref="SelfStartInfo"/>).</summary>
    public Func<IEnumerable<string>, ProcessStartInfo> StartInfo { get; init; } = SelfStartInfo;

    /// <summary>
    /// Where the primary's logging channel goes, given where the backup listens (default: straight
    /// there). A fault-injecting proxy in between is put in place here.
    /// </summary>
    public Func<IPEndPoint, IPEndPoint>? LogRoute { get; init; }

    /// <summary>Where the relay reaches the primary's relay port, given where it listens (default: straight there).</summary>
    public Func<IPEndPoint, IPEndPoint>? PrimaryRelayRoute { get; init; }

    /// <summary>The nodes' <c>--arbiter</c> (default: <see cref="ArbiterDirectory"/>, a file arbiter; or an etcd address).</summary>
    public string? Arbiter { get; init; }

    /// <summary>Arguments only the primary gets.</summary>
    public IReadOnlyList<string> PrimaryArgs { get; init; } = [];

    /// <summary>Arguments only the backup gets.</summary>
    public IReadOnlyList<string> BackupArgs { get; init; } = [];

    /// <summary>More arguments for the relay (<c>--net tap,ifname=NAME</c>: the relay owns the TAP).</summary>
    public IReadOnlyList<string> RelayArgs { get; init; } = [];

    /// <summary>
    /// Starts backup, primary and relay, in that order, each once the one before has said where it
    /// listens; returns the relay's client address. With <paramref name="untilServing"/>, also waits
    /// until the relay follows the primary (its logging channel to the backup is up). Throws
    /// <see cref="ClusterStartException"/> naming the child that did not start and why.
    /// </summary>
    /// <param name="timeout">For each step of the start-up.</param>
    public async Task<string> StartAsync(IReadOnlyList<string> machineArgs, IReadOnlyList<string> nodeArgs, TimeSpan timeout, bool untilServing = false)
    {
        string arb = Arbiter ?? ArbiterDirectory;
        (_machineArgs, _nodeArgs) = (machineArgs, nodeArgs);
        Backup = Start("backup", ["backup", .. machineArgs, "--listen", "127.0.0.1:0", "--relay-port", "127.0.0.1:0", "--arbiter", arb, .. nodeArgs, .. BackupArgs]);
        string backupPorts = await Backup.WaitForLineAsync(l => BackupListening().Match(l) is { Success: true } m ? $"{m.Groups[1].Value} {m.Groups[2].Value}" : null,
            timeout, "listening").ConfigureAwait(false);
        var backupRelay = IPEndPoint.Parse(backupPorts.Split(' ')[0]);
        var backupLog = IPEndPoint.Parse(backupPorts.Split(' ')[1]);
        var primaryLog = LogRoute?.Invoke(backupLog) ?? backupLog;

        // With respawn the primary takes joining backups too, for when it is the one left alone.
        string[] joins = Respawn ? ["--listen", "127.0.0.1:0"] : [];
        Primary = Start("primary", ["primary", .. machineArgs, "--backup", primaryLog.ToString(), .. joins, "--relay-port", "127.0.0.1:0", "--arbiter", arb, .. nodeArgs, .. PrimaryArgs]);
        var primaryRelay = IPEndPoint.Parse(await Primary.WaitForLineAsync(l => PrimaryListening().Match(l) is { Success: true } m ? m.Groups[1].Value : null,
            timeout, "listening").ConfigureAwait(false));
        if (Respawn) SeatPair(new Seat(Primary, primaryRelay, JoinAddressOf(Primary)), new Seat(Backup, backupRelay, Task.FromResult(backupLog)));
        var relayToPrimary = PrimaryRelayRoute?.Invoke(primaryRelay) ?? primaryRelay;

        Relay = Start("relay", ["relay", "--listen", "127.0.0.1:0", "--nodes", $"{relayToPrimary},{backupRelay}", .. RelayArgs]);
        string address = await Relay.WaitForLineAsync(l => l.StartsWith(RelayProcess.ListeningLine, StringComparison.Ordinal) ? l[RelayProcess.ListeningLine.Length..] : null,
            timeout, "listening").ConfigureAwait(false);
        if (untilServing)
        {
            // The primary's channel comes up and the relay follows it, or the primary says why not
            // (a refused or timed-out handshake) and exits.
            var serving = Relay.WaitForLineAsync(l => l.StartsWith("relay: following primary", StringComparison.Ordinal) ? l : null, timeout, "following the primary");
            if (await Task.WhenAny(serving, Primary.Ended).ConfigureAwait(false) != serving) throw Primary.EndedBefore("the relay followed it");
            await serving.ConfigureAwait(false);
        }
        return address;
    }

    /// <summary>
    /// No fault tolerance, for comparison: the guest alone (<c>vmft run</c>) with its serial console
    /// on a TCP port of its choosing, in real time, started once the client connects. Returns the
    /// client address once it listens.
    /// </summary>
    public async Task<string> StartSoloAsync(IReadOnlyList<string> machineArgs, TimeSpan timeout)
    {
        Primary = Start("solo", ["run", .. machineArgs, "--clock", "realtime", "--serial", "tcp:127.0.0.1:0,wait"]);
        return await Primary.WaitForLineAsync(l => SoloListening().Match(l) is { Success: true } m ? m.Groups[1].Value : null, timeout, "listening").ConfigureAwait(false);
    }

    /// <summary>The arbiter directory's files and what each holds (for the evidence of a run); empty once disposed.</summary>
    public IReadOnlyList<(string File, string Content)> ArbiterState()
    {
        try
        {
            return [.. Directory.GetFiles(ArbiterDirectory).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllText(f)))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>The command that runs this vmft again: the host and the assembly.</summary>
    public static ProcessStartInfo SelfStartInfo(IEnumerable<string> args)
    {
        string assembly = typeof(FtProcesses).Assembly.Location;
        string host = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // Under `dotnet vmft.dll` the host is dotnet and needs the assembly; an apphost runs itself.
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) info.ArgumentList.Add(assembly);
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    private ChildProcess Start(string name, IEnumerable<string> args)
    {
        var child = new ChildProcess(name, StartInfo(args), Clock ?? (() => _started.Elapsed.TotalMilliseconds), l =>
        {
            Line?.Invoke(l);
            ObserveForRespawn(l);
        });
        lock (_children) _children.Add(child);
        return child;
    }

    // The children's address lines (see "Machine-readable lines" in docs/ARCHITECTURE.md).
    [GeneratedRegex(@"^\S+: relay port (\S+), logging channel on (\S+)$")]
    private static partial Regex BackupListening();

    [GeneratedRegex(@"^\S+: relay port (\S+)$")]
    private static partial Regex PrimaryListening();

    [GeneratedRegex(@"^vmft: serial console on tcp:(\S+?)(?:, waiting for a client)?$")]
    private static partial Regex SoloListening();

    public void Dispose()
    {
        List<ChildProcess> children;
        lock (_children) children = [.. _children];
        foreach (var c in children) c.Dispose();
        try
        {
            Directory.Delete(ArbiterDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
