using System.Text;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.Storage;
using VmFt.ReplayLog.Events;
using Xunit;

namespace VmFt.Hypervisor.Tests.Storage;

/// <summary>
/// The shared disk under FT at the level of the nodes, stepped by hand: a write reaches the disk
/// only once the backup acknowledged log showing the guest issued it; and a primary that dies
/// after any step, with or without its last log reaching the backup, loses nothing: the backup
/// goes live, reissues what was in flight, and the guest ends with every step as expected and the
/// disk as in a run without failure.
/// </summary>
public class DiskFailoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private sealed class Pair
    {
        public readonly MemoryDisk Disk = new(MemoryDisk.Pattern());
        public readonly PrimaryNode Primary;
        public readonly BackupNode Backup;
        public readonly OutputStream BackupOutput = new();
        public readonly OutputStream PrimaryOutput = new();
        public int Reads;
        private bool _lost;

        public Pair()
        {
            var pm = DiskGuestTests.Boot(Disk.Length);
            Primary = new PrimaryNode("A", 0, pm, PrimaryOutput, 1, 0, checkpointInterval: 20_000)
            {
                SliceInstructions = 1_000,
                Disk = new DiskService(pm.Disk!, Disk),
            };
            Backup = new BackupNode("B", DiskGuestTests.Boot(Disk.Length), BackupOutput);
        }

        /// <summary>One primary step; its log reaches the backup unless <paramref name="lose"/> (or an earlier batch was lost); acks come back unless held.</summary>
        public bool Step(bool lose = false, bool holdAcks = false)
        {
            lose |= _lost;
            _lost = lose;
            bool running = Primary.Step();
            var log = Primary.TakeLog();
            Reads += log.OfType<DiskReadEvent>().Count();
            if (!lose) Backup.OnLog(log);
            Backup.Step();
            if (!holdAcks) Primary.OnAck(Backup.Acknowledge());
            return running;
        }
    }

    [Fact]
    public void AWriteWaitsForTheBackupsAcknowledgement()
    {
        var pair = new Pair();
        int steps = 0;
        // Up to the first read's completion; from there (the guest's next request is the write) no acks.
        while (pair.Reads == 0 && steps++ < 10_000) pair.Step();
        while (pair.Primary.Disk!.Device.Pending.All(r => r.Kind != Guest.Devices.Virtio.DiskRequestKind.Write) && steps++ < 10_000) pair.Step(holdAcks: true);
        Assert.Equal(0, pair.Disk.WritesLanded);
        for (int i = 0; i < 20; i++) pair.Step(holdAcks: true);
        Assert.Equal(0, pair.Disk.WritesLanded);   // twenty steps without an ack: still held
        Assert.Contains(pair.Primary.Disk.Device.Pending, r => r.Kind == Guest.Devices.Virtio.DiskRequestKind.Write);
        pair.Step();
        pair.Step();
        Assert.Equal(1, pair.Disk.WritesLanded);
        while (pair.Step())
        {
        }
        Assert.Equal(1, pair.Primary.Machine.ExitStatus);
    }

    [Fact]
    public void APrimaryDeadAfterAnyStepLosesNoWriteAndShowsNoneTheGuestNeverIssued()
    {
        // The failure-free run: how many steps, the final disk, the output.
        var reference = new Pair();
        int total = 0;
        while (reference.Step()) total++;
        Assert.Equal(1, reference.Primary.Machine.ExitStatus);
        byte[] finalDisk = reference.Disk.Bytes;
        string transcript = Encoding.ASCII.GetString(reference.PrimaryOutput.Slice(0, reference.PrimaryOutput.End));
        Assert.Contains("disk: all ok", transcript);

        int failovers = 0;
        for (int crashAfter = 0; crashAfter <= total; crashAfter++)
        {
            // The log of the last 0 to 3 steps before the crash never reached the backup.
            for (int lost = 0; lost <= 3; lost++)
            {
                var pair = new Pair();
                bool running = true;
                for (int s = 0; s <= crashAfter && running; s++) running = pair.Step(lose: s > crashAfter - lost);
                if (!running && lost == 0) continue;   // the guest was done and the backup knows: nothing to take over
                int landed = pair.Disk.WritesLanded;

                var live = pair.Backup.GoLive(1, 1_000, disk: pair.Disk);
                // Nothing the old primary wrote is unknown to the guest the backup continues.
                var device = live.Machine.Disk!;
                if (landed > 0) Assert.True(device.NextRequestId > 2, $"crash after {crashAfter}: a write on the disk that the backup's guest never issued");
                live.ContinueAlone(1);
                int guard = 0;
                while (live.Step() && guard++ < 100_000)
                {
                }
                failovers++;
                Assert.True(live.Machine.ExitStatus == 1, $"crash after step {crashAfter} (log of the last {lost} steps lost): exit {live.Machine.ExitStatus}; output:\n"
                    + Encoding.ASCII.GetString(pair.BackupOutput.Slice(0, pair.BackupOutput.End)));
                Assert.Equal(transcript, Encoding.ASCII.GetString(pair.BackupOutput.Slice(0, pair.BackupOutput.End)));
                Assert.Equal(finalDisk, pair.Disk.Bytes);
            }
        }
        output.WriteLine($"{failovers} failovers: a crash after each of the {total + 1} steps, with the log of the last 0-3 steps lost");
        Assert.True(failovers > 20, $"only {failovers} failovers exercised");
    }
}
