using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Primary;
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
        await using var pair = await PrimaryOnAPipe.StartAsync("cpubench", (node, channel, relay, wake) =>
            new PrimaryHost(node, channel, relay, wake, new InMemoryArbiter(), "vm", new LinesLoggerFactory(_ => { })) { MaxLeadInstructions = Lead });
        var host = pair.Host;
        var received = pair.Received;

        // No acknowledgement: the primary waits once it is the lead beyond the first event.
        await pair.ReceiveUntil(() => host.Statistics.LeadStalls > 0);
        await Task.Delay(200, pair.Token); // it stays stopped: nothing it waits for can come
        await pair.ReceiveUntil(() => true);
        ulong first = received[0].Position, last = received[^1].Position;
        Assert.True(last - first <= Lead + Slice,
            $"the log reaches {last - first:N0} instructions past the first unacknowledged event, beyond the lead of {Lead:N0}");
        Assert.True(last - first >= Lead - Slice, $"stopped at {last - first:N0}, well short of the lead");

        // One acknowledgement of everything: it runs on, again as far as the lead.
        await pair.BackupSide.SendAckAsync(received[^1].Sequence, pair.Token);
        await pair.ReceiveUntil(() => received.Count > 0 && received[^1].Position >= last + Lead / 2);
    }
}
