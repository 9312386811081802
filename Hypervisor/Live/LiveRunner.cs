using System.Diagnostics;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Serial;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.Live;

/// <summary>
/// Drives a machine from the real world on its own: the loop of a solo run and of a recording.
/// It runs the guest in slices; between slices it samples the host clock (realtime mode), feeds
/// serial input the guest has room for, and flushes output. When the guest idles it either skips
/// to the next timer (virtual mode) or waits for the host clock or input (realtime mode). Every
/// one of those inputs goes through the <see cref="Recorder"/>, so a recording replays exactly.
/// The time rules are <see cref="SliceClock"/>'s, which the FT primary follows too (it has its
/// own loop: its input comes from the relay and its output waits for the backup).
/// </summary>
public sealed class LiveRunner(PcMachine machine, ClockMode clock, ISerialBackend? serial, IEventSink? log = null)
{
    /// <summary>Instructions per slice: the granularity of clock samples and input delivery.</summary>
    public ulong SliceInstructions { get; init; } = 200_000;

    /// <summary>Instructions between state-hash checkpoints in the log (0: none).</summary>
    public ulong CheckpointInterval { get; init; } = 50_000_000;

    /// <summary>Writes periodic snapshots into the log (recordings only; null: none).</summary>
    public Recording.RecordingSnapshotter? Snapshots { get; init; }

    /// <summary>The disk's host side, when the machine has a disk: its requests complete at slice boundaries.</summary>
    public Storage.DiskService? Disk { get; init; }

    /// <summary>The network card's host side, when the machine has one plugged in: frames arrive between slices, sent ones go out after each.</summary>
    public Network.NetworkService? Network { get; init; }

    private ulong _inputOffset;

    public RunOutcome Run(ulong maxInstructions, CancellationToken cancel = default)
    {
        var recorder = new Recorder(machine, log) { CheckpointInterval = CheckpointInterval };
        var wall = Stopwatch.StartNew();
        var time = new SliceClock(machine, recorder, clock, new HostClock(machine.Now)); // from the guest's time: a resumed machine's clock goes on
        ulong start = machine.Cpu.Position;
        ulong limit = maxInstructions == 0 ? ulong.MaxValue : start + maxInstructions;
        Span<byte> input = stackalloc byte[64];
        if (serial is not null) machine.SerialOutput = serial.Write;
        recorder.MaybeCheckpoint(force: true);

        while (!cancel.IsCancellationRequested)
        {
            // Every wait below ends at the timer or at input: a sample is always worth taking.
            time.BeginSlice(always: true);
            FeedInput(recorder, input);
            Disk?.Service(recorder);
            Network?.Service(recorder);

            ulong position = machine.Cpu.Position;
            if (position >= limit) return Finish(recorder, MachineExitReason.PositionReached, wall, start, limitReached: true);
            ulong stop = limit - position > SliceInstructions ? position + SliceInstructions : limit;
            var reason = machine.RunUntil(stop);
            serial?.Flush();
            Network?.Flush();
            recorder.MaybeCheckpoint();
            if (reason == MachineExitReason.PositionReached || reason == MachineExitReason.Idle) Snapshots?.MaybeSnapshot(recorder);
            switch (reason)
            {
                case MachineExitReason.PositionReached:
                    continue;
                case MachineExitReason.Idle:
                    // A guest waiting for its disk gets the completion next, before time moves on.
                    if (Disk is { HasWork: true } || Network is { HasWork: true }) continue;
                    if (!time.Idle()) WaitWhileIdle(time);
                    continue;
                default:
                    return Finish(recorder, reason, wall, start, limitReached: false);
            }
        }
        return Finish(recorder, MachineExitReason.PositionReached, wall, start, limitReached: false);
    }

    private void FeedInput(Recorder recorder, Span<byte> buffer)
    {
        if (serial is null) return;
        int room = Math.Min(machine.SerialInputSpace, buffer.Length);
        if (room <= 0) return;
        int n = serial.TryRead(buffer[..room]);
        if (n <= 0) return;
        recorder.SerialInput(_inputOffset, buffer[..n]);
        _inputOffset += (ulong)n;
    }

    /// <summary>The guest idles and cannot skip ahead: wait for its timer (realtime) or for input.</summary>
    private void WaitWhileIdle(SliceClock time)
    {
        if (time.Mode == ClockMode.Virtual)
        {
            // A virtual guest with no timer at all: only input can wake it.
            WaitForInput(TimeSpan.FromMilliseconds(100));
            return;
        }
        ulong deadline = time.IdleUntil;
        ulong now = time.HostNow;
        // Sleep until the guest's next timer, rounded up to whole milliseconds: host waits are no
        // finer than that, and a shorter "wait" returns at once, which would spin and fill the log
        // with clock samples that change nothing.
        const ulong Millisecond = 1_000_000;
        ulong waitNs = deadline == ulong.MaxValue ? 100 * Millisecond
            : deadline > now ? Math.Min((deadline - now + Millisecond - 1) / Millisecond * Millisecond, 100 * Millisecond) : 0;
        if (waitNs > 0) WaitForInput(TimeSpan.FromTicks((long)(waitNs / 100)));
    }

    /// <summary>Waits for serial input or a network frame the guest has a buffer for, or until <paramref name="wait"/> passes.</summary>
    private void WaitForInput(TimeSpan wait)
    {
        // A frame the guest has no buffer for cannot wake it: only its own progress posts buffers.
        if (Network is not { } net || !net.Device.CanReceive)
        {
            if (serial is not null) serial.WaitForInput(wait);
            else Thread.Sleep(wait);
            return;
        }
        if (serial is null)
        {
            net.Backend.WaitForFrame(wait);
            return;
        }
        // Two sources and no handle both can signal: take turns in short waits, which bounds the
        // latency of either at a millisecond.
        var step = TimeSpan.FromMilliseconds(0.5);
        long end = Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency);
        while (!serial.InputReady && !serial.InputClosed && Stopwatch.GetTimestamp() < end)
        {
            if (net.Backend.WaitForFrame(step)) return;
            serial.WaitForInput(step);
        }
    }

    private RunOutcome Finish(Recorder recorder, MachineExitReason reason, Stopwatch wall, ulong start, bool limitReached)
    {
        serial?.Flush();
        recorder.MaybeCheckpoint(force: true);
        recorder.Exit(reason, machine.ExitStatus);
        return new RunOutcome(reason, machine.ExitStatus, machine.Cpu.Position - start, wall.Elapsed, limitReached);
    }
}
