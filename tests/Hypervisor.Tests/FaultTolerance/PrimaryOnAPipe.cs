using System.Text;
using VmFt.Channel;
using VmFt.Channel.Transport;
using VmFt.Guest.Images;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// A <see cref="PrimaryHost"/> running a bundled guest, its logging channel an in-memory pipe
/// whose backup end the test holds: the test sees exactly what was shipped and when, and
/// acknowledges only what it chooses to.
/// </summary>
internal sealed class PrimaryOnAPipe : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly LogChannel _primaryChannel;

    public PrimaryHost Host { get; }
    public LogChannel BackupSide { get; }
    public Task<NodeExit> Run { get; }
    /// <summary>Every log event the backup end has taken so far (<see cref="ReceiveUntil"/>).</summary>
    public List<LogEvent> Received { get; } = [];
    /// <summary>How many LogData frames carried them.</summary>
    public int Frames => FrameEnds.Count;
    /// <summary>For each frame received, the count of events received with it and before it.</summary>
    public List<int> FrameEnds { get; } = [];
    public CancellationToken Token => _stop.Token;

    private PrimaryOnAPipe(CancellationTokenSource stop, LogChannel primaryChannel, LogChannel backupSide, PrimaryHost host)
    {
        _stop = stop;
        _primaryChannel = primaryChannel;
        BackupSide = backupSide;
        Host = host;
        Run = Task.Run(() => host.RunAsync(stop.Token), stop.Token);
    }

    /// <param name="configure">Makes the host from its parts (sets the host's bounds under test).</param>
    public static async Task<PrimaryOnAPipe> StartAsync(string image, Func<PrimaryNode, LogChannel, RelayEndpoint, WakeSignal, PrimaryHost> configure)
    {
        var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        LogChannelOptions Options(ChannelRole role) => new()
        {
            VmId = NodeProcess.VmGuid("vm"),
            LocalRole = role,
            SharedSecret = Encoding.UTF8.GetBytes("s"),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            PeerTimeout = TimeSpan.FromSeconds(30),
        };
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var connect = LogChannel.ConnectAsync(a, Options(ChannelRole.Primary), cancellationToken: stop.Token);
        var backupSide = await LogChannel.AcceptAsync(b, Options(ChannelRole.Backup), cancellationToken: stop.Token);
        var primaryChannel = await connect;

        var machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20 });
        machine.LoadMultiboot(BundledImages.Get(image), image);
        var wake = new WakeSignal();
        var host = configure(new PrimaryNode("A", 0, machine, new OutputStream(), 1, 0), primaryChannel, new RelayEndpoint("A", wake), wake);
        return new PrimaryOnAPipe(stop, primaryChannel, backupSide, host);
    }

    /// <summary>Takes what the backup end has received until <paramref name="done"/>; fails if the primary ended.</summary>
    public async Task ReceiveUntil(Func<bool> done)
    {
        while (true)
        {
            Assert.False(Run.IsCompleted, $"the primary ended: {Run.Exception?.InnerException?.Message ?? Run.Status.ToString()}");
            while (BackupSide.ReceivedLog.TryRead(out var segment))
            {
                Received.AddRange(LogBlocks.Decode(segment));
                FrameEnds.Add(Received.Count);
            }
            if (done()) return;
            await Task.Delay(5, Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await Task.WhenAny(Run, Task.Delay(5000));
        await BackupSide.DisposeAsync();
        await _primaryChannel.DisposeAsync();
        _stop.Dispose();
    }
}
