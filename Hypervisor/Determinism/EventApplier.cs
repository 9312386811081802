using VmFt.Guest.Machine;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Determinism;

/// <summary>
/// Applies a logged event to a machine. A live run and its replay both go through here, so the
/// two cannot apply the same event differently.
/// </summary>
public static class EventApplier
{
    public static void Apply(PcMachine machine, LogEvent logEvent)
    {
        switch (logEvent)
        {
            case TimeSetEvent t:
                machine.SetTime(t.Nanoseconds);
                break;
            case SerialInputEvent s:
                int accepted = machine.SerialInput(s.Data);
                if (accepted != s.Data.Length)
                    throw new DivergenceException(
                        $"serial input #{s.Sequence} at position {s.Position}: the UART took {accepted} of {s.Data.Length} bytes",
                        s.Position, s.Sequence);
                break;
            // Checkpoints, output markers, beacons and exits record facts; they change nothing.
        }
    }
}
