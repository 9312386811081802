using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
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
using VmFt.Hypervisor.Network;
using VmFt.ReplayLog;
using VmFt.Hypervisor.Tests.FaultTolerance;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Network;

/// <summary>
/// Frames under FT, in one process over in-memory transports: the relay owns a network in memory
/// (in place of a TAP), the bundled <c>netecho</c> guest answers every frame with one frame that
/// carries how many it had received before, and the primary host is stopped dead while frames
/// flow. What reaches the network must be exactly one answer per frame sent, in order: a frame lost
/// or given to the guest twice shows as a wrong count, an answer lost or put on the network twice
/// as a wrong number of answers.
/// </summary>
public sealed class NetworkFailoverTests(ITestOutputHelper log)
{
    /// <summary>A network in memory, safe across the relay's threads.</summary>
    private sealed class MemoryNetwork : INetworkBackend
    {
        private readonly Queue<byte[]> _arriving = new();
        private readonly List<byte[]> _sent = [];
        public string Name => "memory";
        public ulong Dropped => 0;

        public void Arrive(byte[] frame)
        {
            lock (_arriving)
            {
                _arriving.Enqueue(frame);
                Monitor.PulseAll(_arriving);
            }
        }

        public byte[][] Sent
        {
            get { lock (_sent) return [.. _sent]; }
        }

        public bool FrameWaiting
        {
            get { lock (_arriving) return _arriving.Count > 0; }
        }

        public bool TryReceive([NotNullWhen(true)] out byte[]? frame)
        {
            lock (_arriving) return _arriving.TryDequeue(out frame);
        }

        public bool WaitForFrame(TimeSpan timeout)
        {
            lock (_arriving)
            {
                if (_arriving.Count == 0) Monitor.Wait(_arriving, timeout);
                return _arriving.Count > 0;
            }
        }

        public void Send(ReadOnlySpan<byte> frame)
        {
            lock (_sent) _sent.Add(frame.ToArray());
        }

        public void Dispose() { }
    }

    private static readonly byte[] Client = NetechoFrames.ClientMac.ToArray();

    private static PcMachine Boot()
    {
        var m = new PcMachine(new MachineConfiguration { RamSize = 16 << 20, Network = NetworkConfiguration.Default });
        m.LoadMultiboot(BundledImages.Get("netecho"), "netecho", new MultibootOptions());
        return m;
    }

    private static byte[] Request(int seq) => NetechoFrames.Request(seq);

    /// <param name="killAt">Frames sent before the kill; with <paramref name="gapMs"/> 0, answers on the network before it.</param>
    /// <param name="gapMs">Between two frames sent; 0: all at once, so that many are in flight (held, unlogged) at the kill.</param>
    [Theory]
    [InlineData(12, 20)]
    [InlineData(30, 20)]
    [InlineData(20, 0)]
    public async Task EveryFrameIsAnsweredOnceInOrderAcrossAPrimaryKill(int killAt, int gapMs)
    {
        const int Frames = 50;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
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

        // Every link of the primary goes through a fault pipe, so that stopping it is a crash.
        var (logA, logB) = InMemoryDuplexPipe.CreatePair();
        var logAFault = new FaultInjectingPipe(logA);
        var connect = LogChannel.ConnectAsync(logAFault, options(ChannelRole.Primary), cancellationToken: token);
        var backupChannel = await LogChannel.AcceptAsync(logB, options(ChannelRole.Backup), cancellationToken: token);
        var primaryChannel = await connect;

        var network = new MemoryNetwork();
        var relay = new RelayServer(logging, network);
        _ = relay.RunNetworkAsync(token);
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

        var primary = new PrimaryHost(
            new PrimaryNode("A", 0, Boot(), new OutputStream(), 1, 0) { Clock = ClockMode.Realtime },
            primaryChannel, primaryRelay, primaryWake, arbiter, "vm", logging);
        var backup = new BackupHost(new BackupNode("B", Boot()), backupChannel, backupRelay, backupWake, arbiter, "vm", logging);
        var primaryRun = Task.Run(() => primary.RunAsync(primaryStop.Token));
        var backupRun = Task.Run(() => backup.RunAsync(token));

        // The guest's banner on the serial line: its receive buffers are posted.
        var (clientEnd, relayEnd) = InMemoryDuplexPipe.CreatePair();
        _ = relay.AttachClientAsync(relayEnd, token);
        var serial = new StringBuilder();
        while (!serial.ToString().Contains("netecho ready\n"))
        {
            var r = await clientEnd.Input.ReadAsync(token);
            foreach (var seg in r.Buffer) serial.Append(Encoding.ASCII.GetString(seg.Span));
            clientEnd.Input.AdvanceTo(r.Buffer.End);
        }

        void Kill(int framesSent)
        {
            Status($"test: stopping the primary after {framesSent} frames sent, {network.Sent.Length} answers on the network");
            primaryStop.Cancel();
            logAFault.Drop();
            raFault.Drop();
        }
        if (gapMs == 0)
        {
            // All at once, the kill once killAt answers are out: the rest are logged or not, held or released, in flight.
            for (int i = 0; i < Frames; i++) network.Arrive(Request(i));
            var until = System.Diagnostics.Stopwatch.StartNew();
            while (network.Sent.Length < killAt && until.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(1, token);
            Kill(Frames);
        }
        else
        {
            for (int i = 0; i < Frames; i++)
            {
                if (i == killAt) Kill(i);
                network.Arrive(Request(i));
                await Task.Delay(gapMs, token);
            }
        }
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (network.Sent.Length < Frames && waited.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(20, token);
        // A repeat would come after the last answer: give one the time to show.
        await Task.Delay(500, token);

        var sent = network.Sent;
        var counts = relay.FrameCounts;
        Status($"test: {sent.Length} answers; relay: {counts.Delivered} frames out, {counts.DuplicatesDropped} repeats dropped by number, {counts.InputNumbered} in, {counts.InputDropped} dropped; follows {relay.LiveNode}");
        Assert.Equal("B", relay.LiveNode);
        Assert.NotNull(backup.Live);
        Assert.Equal(Frames, sent.Length);
        for (int i = 0; i < Frames; i++)
        {
            var f = sent[i];
            Assert.Equal(60, f.Length);
            Assert.Equal(Client, f[..6]);                                                  // addresses swapped
            Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(18)));         // the answer to frame i
            Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(14)));         // the guest's i-th frame: none lost or doubled before it
            Assert.Equal(Request(i)[22..], f[22..]);
        }
        Assert.Equal((ulong)Frames, counts.Delivered);
        cts.Cancel();
        await Task.WhenAny(Task.WhenAll(primaryRun, backupRun), Task.Delay(5000));
    }
}
