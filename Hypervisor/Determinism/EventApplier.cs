using VmFt.Guest.Machine;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Determinism;

/// <summary>
/// Applies a logged event to a machine. A live run and its replay both go through here, so the
/// two cannot apply the same event differently.
/// </summary>
public static class EventApplier
{
    private static void CompleteDisk(PcMachine machine, LogEvent e, ulong requestId, byte status, byte[] data)
    {
        if (machine.Disk is not { } disk)
            throw new DivergenceException($"disk completion #{e.Sequence} at position {e.Position}: this machine has no disk", e.Position, e.Sequence);
        // A request a device reset dropped is gone on both sides alike: its completion changes nothing.
        if (disk.Complete(requestId, status, data) == Guest.Devices.Virtio.DiskCompletionResult.WrongLength)
            throw new DivergenceException(
                $"disk completion #{e.Sequence} at position {e.Position}: request {requestId} does not take {data.Length} bytes of data", e.Position, e.Sequence);
    }

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
            case DiskReadEvent d:
                CompleteDisk(machine, d, d.RequestId, d.Status, d.Data);
                break;
            case DiskCompletionEvent d:
                CompleteDisk(machine, d, d.RequestId, d.Status, []);
                break;
            case NetReceiveEvent n:
                if (machine.Network is not { } card)
                    throw new DivergenceException($"network frame #{n.Sequence} at position {n.Position}: this machine has no network card", n.Position, n.Sequence);
                // Delivered or dropped, as the guest's buffers at this position decide: the same on both sides.
                card.Receive(n.Frame);
                break;
            // Checkpoints, output markers, beacons and exits record facts; they change nothing.
        }
    }
}
