using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using VmFt.Hypervisor.Live;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.Hypervisor.Bench;

/// <summary>
/// cpubench under fault tolerance, side by side with a solo run in the same process: the primary
/// and the backup each on their own thread (one core each on a 2-core machine), log blocks encoded
/// as they would travel, acks flowing back. Reports the throughput ratio, the log rate, how far the
/// backup lags and how long output is held.
/// </summary>
public static class FtBenchmark
{
    public sealed record Figures(
        double SoloSeconds, double FtSeconds, ulong Instructions, long LogBytes, double GuestSeconds,
        double HoldP50Ms, double HoldP99Ms, double HoldP999Ms, ulong MaxLagInstructions, string Output)
    {
        public double ThroughputRatio => SoloSeconds / FtSeconds;
        public double LogMbitPerGuestSecond => LogBytes * 8 / 1e6 / GuestSeconds;
    }

    private static PcMachine Boot(int iterations)
    {
        var machine = new PcMachine(new MachineConfiguration());
        machine.LoadMultiboot(BundledImages.Get("cpubench"), "cpubench",
            new MultibootOptions { CommandLine = iterations > 0 ? $"iterations={iterations}" : "" });
        return machine;
    }

    public static Figures Run(int iterations)
    {
        // Solo, for the ratio.
        var solo = Boot(iterations);
        var soloClock = Stopwatch.StartNew();
        new LiveRunner(solo, ClockMode.Virtual, null).Run(0);
        double soloSeconds = soloClock.Elapsed.TotalSeconds;

        var primaryMachine = Boot(iterations);
        var backup = new BackupNode("backup", Boot(iterations));
        var primary = new PrimaryNode("primary", 0, primaryMachine, new OutputStream(), 1, 0, checkpointInterval: 50_000_000)
        {
            SliceInstructions = 200_000,
        };
        var toBackup = new BlockingCollection<(byte[] Block, List<LogEvent> Events)>(boundedCapacity: 256);
        var acks = new ConcurrentQueue<ulong>();
        var stats = new FtStatistics();
        var output = new System.Text.StringBuilder();

        var backupThread = new Thread(() =>
        {
            foreach (var (block, events) in toBackup.GetConsumingEnumerable())
            {
                // Decode what travelled, as the real backup does.
                var buffer = new ReadOnlySequence<byte>(block);
                if (!LogBlockCodec.TryReadBlock(ref buffer, 0, out var decoded)) throw new InvalidDataException("log block did not decode");
                backup.OnLog(decoded.Events);
                acks.Enqueue(backup.Acknowledge()); // receipt is enough (within the lag bound)
                backup.Step();
                acks.Enqueue(backup.Acknowledge()); // what the replay brought within the bound
            }
        }) { IsBackground = true, Name = "backup" };
        backupThread.Start();

        var ftClock = Stopwatch.StartNew();
        var writer = new ArrayBufferWriter<byte>();
        while (true)
        {
            while (acks.TryDequeue(out ulong a))
            {
                primary.OnAck(a);
                stats.Acked(a, primaryMachine.Cpu.Position);
            }
            bool running = primary.Step();
            var events = primary.TakeLog();
            foreach (var m in primary.TakeRelayMessages())
                if (m is OutputToRelay o) output.Append(System.Text.Encoding.ASCII.GetString(o.Data));
            if (events.Count > 0)
            {
                writer.ResetWrittenCount();
                LogBlockCodec.WriteBlock(events, writer);
                stats.Shipped(events, writer.WrittenCount);
                toBackup.Add((writer.WrittenSpan.ToArray(), events));
            }
            if (!running) break;
        }
        // The run is done when the guest's last output is released, as a client would see it.
        toBackup.CompleteAdding();
        backupThread.Join();
        while (acks.TryDequeue(out ulong a))
        {
            primary.OnAck(a);
            stats.Acked(a, primaryMachine.Cpu.Position);
        }
        foreach (var m in primary.TakeRelayMessages())
            if (m is OutputToRelay o) output.Append(System.Text.Encoding.ASCII.GetString(o.Data));
        double ftSeconds = ftClock.Elapsed.TotalSeconds;

        double guestSeconds = primaryMachine.Now / 1e9;
        return new Figures(soloSeconds, ftSeconds, primaryMachine.Cpu.Position, stats.LogBytes, guestSeconds,
            stats.HoldPercentile(0.5), stats.HoldPercentile(0.99), stats.HoldPercentile(0.999), stats.MaxLagInstructions, output.ToString());
    }
}
