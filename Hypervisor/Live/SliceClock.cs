using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.Live;

/// <summary>
/// The time rules of a live slice, the same for every driver of a live guest (a solo run, a
/// recording, the primary): before a slice, a host-clock sample in realtime mode; after a slice
/// that left the guest idle, a skip to its next timer in virtual mode, or in realtime mode the
/// guest time the host has to wait for. Both go through the recorder, so the log holds them.
/// </summary>
public sealed class SliceClock(PcMachine machine, Recorder recorder, ClockMode mode, HostClock? host = null)
{
    private readonly HostClock? _host = mode == ClockMode.Realtime ? host ?? new HostClock(machine.Now) : null;

    public ClockMode Mode => mode;

    /// <summary>
    /// After a slice that left the guest idle in realtime mode: the guest time of its next timer,
    /// which the host waits for (ulong.MaxValue: none, only input can wake it). 0 otherwise.
    /// </summary>
    public ulong IdleUntil { get; private set; }

    /// <summary>The host clock in guest nanoseconds (realtime mode only).</summary>
    public ulong HostNow => _host?.Now ?? throw new InvalidOperationException("a virtual clock has no host time");

    /// <summary>
    /// Before a slice. In realtime mode, logs a host-clock sample; while the guest idles short of
    /// its timer a sample changes nothing but the log, so it is taken then only when
    /// <paramref name="always"/> (input is waiting, or the driver slept until the timer).
    /// </summary>
    public void BeginSlice(bool always)
    {
        ulong idleUntil = IdleUntil;
        IdleUntil = 0;
        if (_host is null) return;
        ulong now = _host.Now;
        if (always || idleUntil == 0 || now >= idleUntil) recorder.SetTime(now);
    }

    /// <summary>
    /// After a slice that ended with the guest idle. Virtual mode: the guest jumps to its next
    /// timer (logged) and can go on at once. Realtime mode: <see cref="IdleUntil"/> says how long
    /// the host waits. False when the host has to wait: realtime, or a virtual guest with no timer
    /// (only input can wake it).
    /// </summary>
    public bool Idle()
    {
        ulong deadline = machine.NextDeadline;
        if (_host is not null)
        {
            IdleUntil = deadline;
            return false;
        }
        if (deadline == ulong.MaxValue) return false;
        recorder.SetTime(Math.Max(deadline, machine.Now));
        return true;
    }
}
