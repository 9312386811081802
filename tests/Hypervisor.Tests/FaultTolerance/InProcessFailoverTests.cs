using System.Text;
using VmFt.Channel;
using VmFt.Channel.Transport;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The real node hosts and relay server in one process, over in-memory transports (no sockets):
/// the primary host is stopped dead in the middle of a client session and the client's transcript
/// must still equal the failure-free one.
/// </summary>
public class InProcessFailoverTests(ITestOutputHelper log)
{
    private static PcMachine Boot()
    {
        var m = new PcMachine(new MachineConfiguration { RamSize = 64 << 20 });
        m.LoadMultiboot(BundledImages.Get("kvstore"), "kvstore", new MultibootOptions());
        return m;
    }

    [Theory]
    [InlineData(5)]
    [InlineData(17)]
    public async Task PrimaryStoppedMidScriptGivesTheFailureFreeTranscript(int killAt)
    {
        string[] lines = FailoverDemo.Script(30);
        int expected = lines.Length + 1;
        string baseline = SoloTranscript.Run(BundledImages.Get("kvstore"), "kvstore", 64 << 20, lines, expected);
        Assert.Equal(expected, baseline.Count(c => c == '\n'));

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var token = cts.Token;
        var primaryStop = CancellationTokenSource.CreateLinkedTokenSource(token);
        var arbiter = new InMemoryArbiter();
        void Status(string s)
        {
            lock (log) log.WriteLine(s);
        }
        var logging = new LinesLoggerFactory(Status);
        var options = (ChannelRole role) => new LogChannelOptions
        {
            VmId = NodeProcess.VmGuid("vm"),
            LocalRole = role,
            SharedSecret = Encoding.UTF8.GetBytes("s"),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            PeerTimeout = TimeSpan.FromMilliseconds(1000),
        };

        // Every link of the primary goes through a fault pipe, so that stopping it is a crash: the
        // connections fail, nothing says goodbye.
        var (logA, logB) = InMemoryDuplexPipe.CreatePair();
        var logAFault = new FaultInjectingPipe(logA);
        var connect = LogChannel.ConnectAsync(logAFault, options(ChannelRole.Primary), cancellationToken: token);
        var backupChannel = await LogChannel.AcceptAsync(logB, options(ChannelRole.Backup), cancellationToken: token);
        var primaryChannel = await connect;

        var relay = new RelayServer(logging);
        var primaryWake = new WakeSignal();
        var backupWake = new WakeSignal();
        var primaryRelay = new RelayEndpoint("A", primaryWake);
        var backupRelay = new RelayEndpoint("B", backupWake);
        var (ra, na) = InMemoryDuplexPipe.CreatePair();
        var raFault = new FaultInjectingPipe(na);
        var (rb, nb) = InMemoryDuplexPipe.CreatePair();
        _ = relay.AttachNodeAsync(ra, token);
        _ = primaryRelay.AttachAsync(raFault, primaryStop.Token);
        _ = relay.AttachNodeAsync(rb, token);
        _ = backupRelay.AttachAsync(nb, token);

        var primaryMachine = Boot();
        var primary = new PrimaryHost(
            new PrimaryNode("A", 0, primaryMachine, new OutputStream(), 1, 0) { Clock = ClockMode.Realtime },
            primaryChannel, primaryRelay, primaryWake, arbiter, "vm", logging);
        var backup = new BackupHost(new BackupNode("B", Boot()), backupChannel, backupRelay, backupWake, arbiter, "vm", logging);
        var primaryRun = Task.Run(() => primary.RunAsync(primaryStop.Token));
        var backupRun = Task.Run(() => backup.RunAsync(token));

        var (clientEnd, relayEnd) = InMemoryDuplexPipe.CreatePair();
        _ = relay.AttachClientAsync(relayEnd, token);
        var transcript = new StringBuilder();
        var reader = Task.Run(async () =>
        {
            while (!token.IsCancellationRequested)
            {
                var r = await clientEnd.Input.ReadAsync(token);
                foreach (var seg in r.Buffer) lock (transcript) transcript.Append(Encoding.ASCII.GetString(seg.Span));
                clientEnd.Input.AdvanceTo(r.Buffer.End);
                if (r.IsCompleted) break;
            }
        }, token);

        for (int i = 0; i < lines.Length; i++)
        {
            if (i == killAt)
            {
                Status($"test: stopping the primary before request {i}");
                primaryStop.Cancel();
                logAFault.Drop();
                raFault.Drop();
            }
            await clientEnd.Output.WriteAsync(Encoding.ASCII.GetBytes(lines[i] + "\n"), token);
            await Task.Delay(30, token);
        }
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            lock (transcript) if (transcript.ToString().Count(c => c == '\n') >= expected) break;
            await Task.Delay(20, token);
        }
        string got;
        lock (transcript) got = transcript.ToString();
        Status($"test: client got {got.Count(c => c == '\n')} lines, relay follows {relay.LiveNode}; backup run: {backupRun.Status} {backupRun.Exception?.InnerException}");
        if (backup.Live is { } live) Status($"test: live B input end {live.InputEnd}, position {live.Machine.Cpu.Position}, idle until {live.IdleUntil}, now {live.Machine.Now}, exited {live.Exited}");
        Assert.Equal(baseline, got);
        Assert.Equal("B", relay.LiveNode);
        Assert.NotNull(backup.Live);
        cts.Cancel();
        await Task.WhenAny(Task.WhenAll(primaryRun, backupRun), Task.Delay(5000));
    }
}
