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
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// A primary whose backup receives the log but does not acknowledge it (a backup starved of CPU,
/// or one that holds its acknowledgements back to its replay) stops within its lead bound of the
/// oldest unacknowledged event, and runs on once the acknowledgement comes: a guest that computes
/// and logs little never fills the send window, and without the bound ran seconds ahead, all of
/// which a failover had to replay first.
/// </summary>
public class PrimaryLeadTests
{
    private const ulong Lead = 2_000_000;
    private const ulong Slice = 20_000; // the primary's slice: it stops at a slice's end

    [Fact]
    public async Task Without_acknowledgements_the_primary_stops_within_its_lead_and_goes_on_after_one()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var token = cts.Token;
        LogChannelOptions Options(ChannelRole role) => new()
        {
            VmId = NodeProcess.VmGuid("vm"),
            LocalRole = role,
            SharedSecret = Encoding.UTF8.GetBytes("s"),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            PeerTimeout = TimeSpan.FromSeconds(30),
        };
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var connect = LogChannel.ConnectAsync(a, Options(ChannelRole.Primary), cancellationToken: token);
        await using var backupSide = await LogChannel.AcceptAsync(b, Options(ChannelRole.Backup), cancellationToken: token);
        await using var primaryChannel = await connect;

        var machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20 });
        machine.LoadMultiboot(BundledImages.Get("cpubench"), "cpubench");
        var wake = new WakeSignal();
        var host = new PrimaryHost(new PrimaryNode("A", 0, machine, new OutputStream(), 1, 0), primaryChannel,
            new RelayEndpoint("A", wake), wake, new InMemoryArbiter(), "vm", new LinesLoggerFactory(_ => { }))
        { MaxLeadInstructions = Lead };
        var run = Task.Run(() => host.RunAsync(token), token);

        var received = new List<LogEvent>();
        async Task ReceiveUntil(Func<bool> done)
        {
            while (true)
            {
                Assert.False(run.IsCompleted, $"the primary ended: {run.Exception?.InnerException?.Message ?? run.Status.ToString()}");
                while (backupSide.ReceivedLog.TryRead(out var segment)) received.AddRange(LogBlocks.Decode(segment));
                if (done()) return;
                await Task.Delay(5, token);
            }
        }

        // No acknowledgement: the primary waits once it is the lead beyond the first event.
        await ReceiveUntil(() => host.Statistics.LeadStalls > 0);
        await Task.Delay(200, token); // it stays stopped: nothing it waits for can come
        await ReceiveUntil(() => true);
        ulong first = received[0].Position, last = received[^1].Position;
        Assert.True(last - first <= Lead + Slice,
            $"the log reaches {last - first:N0} instructions past the first unacknowledged event, beyond the lead of {Lead:N0}");
        Assert.True(last - first >= Lead - Slice, $"stopped at {last - first:N0}, well short of the lead");

        // One acknowledgement of everything: it runs on, again as far as the lead.
        await backupSide.SendAckAsync(received[^1].Sequence, token);
        await ReceiveUntil(() => received.Count > 0 && received[^1].Position >= last + Lead / 2);
        cts.Cancel();
        await Task.WhenAny(run, Task.Delay(5000));
    }
}
