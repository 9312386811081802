using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The primary ships log that nothing waits for in batches (an idle guest's timer ticks, a busy
/// guest's beacons), but log that covers held output at once: batching must never make the output
/// rule wait. The batch delay here is ten minutes, so only those two rules can make log leave.
/// </summary>
public class LogBatchingTests
{
    private static Task<PrimaryOnAPipe> StartKvstoreAsync(TimeSpan batchDelay) =>
        PrimaryOnAPipe.StartAsync("kvstore", (node, channel, relay, wake) =>
            new PrimaryHost(node, channel, relay, wake, new InMemoryArbiter(), "vm", new LinesLoggerFactory(_ => { }))
            {
                LogBatchDelay = batchDelay,
                MaxLeadInstructions = 0,
            });

    [Fact]
    public async Task Log_covering_held_output_leaves_at_once_and_the_output_is_released_on_its_acknowledgement()
    {
        await using var pair = await StartKvstoreAsync(TimeSpan.FromMinutes(10));

        await pair.ReceiveUntil(() => pair.Received.Exists(e => e is OutputMarkerEvent));
        int marker = pair.Received.FindIndex(e => e is OutputMarkerEvent);
        // The frame that carries the marker ends with the step that made the output (at most its
        // time sample and checkpoint follow); held back for a batch, it would end at a block of 256.
        int frameEnd = pair.FrameEnds.First(end => end > marker);
        Assert.True(frameEnd - marker <= 3, $"the banner's marker (event {marker}) left in a frame that ends {frameEnd - marker - 1} events later");
        Assert.Equal(0ul, pair.Host.Node.Released);

        await pair.BackupSide.SendAckAsync(pair.Received[marker].Sequence, pair.Token);
        await pair.ReceiveUntil(() => pair.Host.Node.Released > 0);
        Assert.Equal(((OutputMarkerEvent)pair.Received[marker]).OutputEnd, pair.Host.Node.Released);
    }

    [Theory]
    [InlineData(600_000, 64, true)] // batched: many ticks to a frame
    [InlineData(0, 64, false)]      // every step ships: the same log takes a frame a step
    public async Task An_idle_guests_ticks_leave_in_batches(int batchDelayMs, int eventsPerFrame, bool batched)
    {
        await using var pair = await StartKvstoreAsync(TimeSpan.FromMilliseconds(batchDelayMs));

        // The banner, then idle: the guest's timer ticks are all it logs (virtual time skips to each).
        await pair.ReceiveUntil(() => pair.Received.Exists(e => e is OutputMarkerEvent));
        await pair.BackupSide.SendAckAsync(pair.Received.Find(e => e is OutputMarkerEvent)!.Sequence, pair.Token);
        await pair.ReceiveUntil(() => pair.Host.Node.Released > 0); // no output waits any more
        int framesBefore = pair.Frames, eventsBefore = pair.Received.Count;
        await pair.ReceiveUntil(() => pair.Received.Count - eventsBefore >= 4 * PrimaryHost.MaxUnshippedEvents);

        double perFrame = (pair.Received.Count - eventsBefore) / (double)(pair.Frames - framesBefore);
        Assert.True(perFrame >= eventsPerFrame == batched,
            $"{perFrame:F1} log events a frame with a batch delay of {batchDelayMs} ms");
        Assert.DoesNotContain(pair.Received.Skip(eventsBefore), e => e is OutputMarkerEvent or SerialInputEvent);
    }
}
