using System.Diagnostics;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Serial;

namespace VmFt.Hypervisor.Solo;

/// <summary>
/// Drives one machine alone, with no log: the loop every other role refines.
/// It runs the guest in slices; between slices it samples the host clock (realtime mode), feeds
/// serial input the guest has room for, and flushes output. When the guest idles it either skips
/// to the next timer (virtual mode) or waits for the host clock or input (realtime mode).
/// </summary>
public sealed class SoloRunner(PcMachine machine, ClockMode clock, ISerialBackend? serial)
{
    /// <summary>Instructions per slice: the granularity of clock samples and input delivery.</summary>
    public ulong SliceInstructions { get; init; } = 200_000;

    public RunOutcome Run(ulong maxInstructions, CancellationToken cancel = default)
    {
        var wall = Stopwatch.StartNew();
        ulong start = machine.Cpu.Position;
        ulong limit = maxInstructions == 0 ? ulong.MaxValue : start + maxInstructions;
        Span<byte> input = stackalloc byte[64];
        if (serial is not null) machine.SerialOutput = serial.Write;

        while (!cancel.IsCancellationRequested)
        {
            if (clock == ClockMode.Realtime) machine.SetTime(HostNanoseconds(wall));
            FeedInput(input);

            ulong position = machine.Cpu.Position;
            if (position >= limit) return Finish(MachineExitReason.PositionReached, wall, start, limitReached: true);
            ulong stop = limit - position > SliceInstructions ? position + SliceInstructions : limit;
            var reason = machine.RunUntil(stop);
            serial?.Flush();
            switch (reason)
            {
                case MachineExitReason.PositionReached:
                    continue;
                case MachineExitReason.Idle:
                    WaitWhileIdle(wall);
                    continue;
                default:
                    return Finish(reason, wall, start, limitReached: false);
            }
        }
        return Finish(MachineExitReason.PositionReached, wall, start, limitReached: false);
    }

    private void FeedInput(Span<byte> buffer)
    {
        if (serial is null) return;
        int room = Math.Min(machine.SerialInputSpace, buffer.Length);
        if (room <= 0) return;
        int n = serial.TryRead(buffer[..room]);
        if (n > 0) machine.SerialInput(buffer[..n]);
    }

    private void WaitWhileIdle(Stopwatch wall)
    {
        if (clock == ClockMode.Virtual)
        {
            // Nothing will happen until the next timer: jump there. With no timer at all, only
            // input can wake the guest.
            if (machine.SkipIdleTime()) return;
            serial?.WaitForInput(TimeSpan.FromMilliseconds(100));
            return;
        }
        ulong deadline = machine.NextDeadline;
        ulong now = HostNanoseconds(wall);
        var wait = deadline == ulong.MaxValue ? TimeSpan.FromMilliseconds(100)
            : deadline > now ? TimeSpan.FromTicks((long)Math.Min((deadline - now) / 100, 1_000_000)) : TimeSpan.Zero;
        if (wait > TimeSpan.Zero)
        {
            if (serial is not null) serial.WaitForInput(wait);
            else Thread.Sleep(wait);
        }
    }

    private static ulong HostNanoseconds(Stopwatch wall) => (ulong)(wall.ElapsedTicks * (1_000_000_000.0 / Stopwatch.Frequency));

    private RunOutcome Finish(MachineExitReason reason, Stopwatch wall, ulong start, bool limitReached)
    {
        serial?.Flush();
        return new RunOutcome(reason, machine.ExitStatus, machine.Cpu.Position - start, wall.Elapsed, limitReached);
    }
}
