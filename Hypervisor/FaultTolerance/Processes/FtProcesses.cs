using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// Backup, primary and relay as child processes of this vmft (<c>dotnet vmft.dll ...</c>) on free
/// loopback ports, with a fresh arbiter directory. Every line a child prints goes to <see cref="Line"/>.
/// </summary>
public sealed class FtProcesses : IDisposable
{
    private readonly List<Process> _children = [];
    private readonly TaskCompletionSource<string> _relayAddress = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Process? Backup { get; private set; }
    /// <summary>The primary (or, after <see cref="StartSoloAsync"/>, the guest running alone).</summary>
    public Process? Primary { get; private set; }
    public Process? Relay { get; private set; }
    public string ArbiterDirectory { get; } = Directory.CreateTempSubdirectory("vmft-arbiter-").FullName;

    /// <summary>(child name, line) for every line a child prints.</summary>
    public Action<string, string>? Line { get; init; }

    /// <summary>How to start a child with these vmft arguments (default: this vmft again, <see cref="SelfStartInfo"/>).</summary>
    public Func<IEnumerable<string>, ProcessStartInfo> StartInfo { get; init; } = SelfStartInfo;

    /// <summary>
    /// Where the primary's logging channel goes, given where the backup listens (default: straight
    /// there). A fault-injecting proxy in between is put in place here.
    /// </summary>
    public Func<IPEndPoint, IPEndPoint>? LogRoute { get; init; }

    /// <summary>Where the relay reaches the primary's relay port, given where it listens (default: straight there).</summary>
    public Func<IPEndPoint, IPEndPoint>? PrimaryRelayRoute { get; init; }

    /// <summary>Arguments only the primary gets.</summary>
    public IReadOnlyList<string> PrimaryArgs { get; init; } = [];

    /// <summary>Arguments only the backup gets.</summary>
    public IReadOnlyList<string> BackupArgs { get; init; } = [];

    /// <summary>Starts the three; returns the relay's client address once the relay listens.</summary>
    public async Task<string> StartAsync(IReadOnlyList<string> machineArgs, IReadOnlyList<string> nodeArgs, TimeSpan timeout)
    {
        int logPort = FreePort(), primaryRelay = FreePort(), backupRelay = FreePort(), clientPort = FreePort();
        string arb = ArbiterDirectory;
        var backupLog = new IPEndPoint(IPAddress.Loopback, logPort);
        var primaryLog = LogRoute?.Invoke(backupLog) ?? backupLog;
        Backup = Start("backup", ["backup", .. machineArgs, "--listen", $"127.0.0.1:{logPort}", "--relay-port", backupRelay.ToString(), "--arbiter", arb, .. nodeArgs, .. BackupArgs]);
        Primary = Start("primary", ["primary", .. machineArgs, "--backup", primaryLog.ToString(), "--relay-port", primaryRelay.ToString(), "--arbiter", arb, .. nodeArgs, .. PrimaryArgs]);
        var primaryRelayEnd = new IPEndPoint(IPAddress.Loopback, primaryRelay);
        var relayToPrimary = PrimaryRelayRoute?.Invoke(primaryRelayEnd) ?? primaryRelayEnd;
        Relay = Start("relay", ["relay", "--listen", $"127.0.0.1:{clientPort}", "--nodes", $"{relayToPrimary},127.0.0.1:{backupRelay}"],
            line => { if (line.StartsWith(RelayProcess.ListeningLine, StringComparison.Ordinal)) _relayAddress.TrySetResult(line[RelayProcess.ListeningLine.Length..]); });
        return await _relayAddress.Task.WaitAsync(timeout).ConfigureAwait(false);
    }

    /// <summary>
    /// No fault tolerance, for comparison: the guest alone (<c>vmft run</c>) with its serial console
    /// on a TCP port, in real time, started once the client connects. Returns the client address
    /// once it listens.
    /// </summary>
    public async Task<string> StartSoloAsync(IReadOnlyList<string> machineArgs, TimeSpan timeout)
    {
        int port = FreePort();
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Primary = Start("solo", ["run", .. machineArgs, "--clock", "realtime", "--serial", $"tcp:127.0.0.1:{port},wait"],
            line => { if (line.StartsWith("vmft: serial console on tcp:", StringComparison.Ordinal)) listening.TrySetResult(); });
        await listening.Task.WaitAsync(timeout).ConfigureAwait(false);
        return $"127.0.0.1:{port}";
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

    /// <param name="onLine">Sees every line the child prints, on either stream (how readiness is noticed).</param>
    private Process Start(string name, IEnumerable<string> args, Action<string>? onLine = null)
    {
        var process = Process.Start(StartInfo(args)) ?? throw new InvalidOperationException($"cannot start the {name}");
        _children.Add(process);
        void Received(string? line)
        {
            if (line is null) return;
            onLine?.Invoke(line);
            Line?.Invoke(name, line);
        }
        process.OutputDataReceived += (_, e) => Received(e.Data);
        process.ErrorDataReceived += (_, e) => Received(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public void Dispose()
    {
        foreach (var p in _children)
        {
            try
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        try
        {
            Directory.Delete(ArbiterDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
