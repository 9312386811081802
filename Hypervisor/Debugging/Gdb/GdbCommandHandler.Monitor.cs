using System.Globalization;
using System.Text;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>gdb's <c>monitor</c> commands (qRcmd): where we are in the recording, jumping, the event log, snapshots.</summary>
public sealed partial class GdbCommandHandler
{
    private const int EventLines = 20;

    public const string MonitorHelp =
        "monitor commands of the VmFt replay stub:\n" +
        "  when            the current position (instructions retired) and the recording's end\n" +
        "  goto N          move to position N (then 'maint flush register-cache' so gdb rereads registers)\n" +
        "  events [R]      logged events within R positions of here (default 1000000)\n" +
        "  snapshot        take a snapshot here and show the snapshot statistics\n" +
        "  help            this text\n";

    private byte[] Monitor(string hex)
    {
        byte[]? bytes = GdbHex.Decode(hex);
        if (bytes is null) return Error(1);
        string[] words = Encoding.UTF8.GetString(bytes).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string output;
        if (words.Length == 0 || words[0] == "help")
        {
            output = MonitorHelp;
        }
        else
        {
            switch (words[0])
            {
                case "when" when words.Length == 1:
                    output = Where();
                    break;
                case "goto" when words.Length == 2:
                    if (!ulong.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong target))
                        return ConsoleError($"goto: '{words[1]}' is not a position (a decimal instruction count)\n");
                    var stop = _session.Goto(target);
                    _lastStop = StopReply(stop, forwards: true, signal: 5);
                    output = Where();
                    break;
                case "events" when words.Length <= 2:
                    ulong radius = 1_000_000;
                    if (words.Length == 2 && !ulong.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out radius))
                        return ConsoleError($"events: '{words[1]}' is not a number of positions\n");
                    output = Events(radius);
                    break;
                case "snapshot" when words.Length == 1:
                    // TakeSnapshot refuses this state; say why instead of letting it read as a failure of the stub.
                    if (_session.IsModified)
                        return ConsoleError("snapshot: the state was changed by hand; a snapshot of it would not belong to the recording (move first)\n");
                    _session.TakeSnapshot();
                    var s = _session.SnapshotStatistics;
                    output = $"snapshot taken at position {_session.Position}: {s.Count} snapshots, {s.Bytes / 1024} KiB of {s.BudgetBytes / 1024} KiB budget, interval {s.Interval} instructions\n";
                    break;
                default:
                    return ConsoleError($"unknown monitor command '{string.Join(' ', words)}'; try 'monitor help'\n");
            }
        }
        ConsoleOutput?.Invoke(GdbHex.Encode(output));
        return Ascii("OK");
    }

    /// <summary>The text goes to gdb's console and the command fails, so that scripts can tell.</summary>
    private byte[] ConsoleError(string text)
    {
        ConsoleOutput?.Invoke(GdbHex.Encode(text));
        return Error(1);
    }

    private string Where() =>
        $"position {_session.Position} of {_session.EndPosition}, eip 0x{_session.Cpu.Eip:x8}{(_session.IsModified ? " (state modified)" : "")}\n";

    private string Events(ulong radius)
    {
        ulong here = _session.Position;
        ulong from = here > radius ? here - radius : 0;
        ulong to = Math.Min(here + radius < here ? ulong.MaxValue : here + radius, _session.EndPosition);
        var sb = new StringBuilder();
        var list = _session.EventsBetween(from, to).ToList();
        // Keep the lines nearest the current position when there are too many.
        int first = 0;
        if (list.Count > EventLines)
        {
            int at = list.FindIndex(e => e.Position >= here);
            if (at < 0) at = list.Count;
            first = Math.Clamp(at - EventLines / 2, 0, list.Count - EventLines);
        }
        sb.Append($"{list.Count} events in positions {from}..{to} (here: {here})\n");
        for (int i = first; i < Math.Min(list.Count, first + EventLines); i++)
            sb.Append(list[i].Position <= here && (i + 1 == list.Count || list[i + 1].Position > here) ? "> " : "  ").Append(Describe(list[i])).Append('\n');
        // Interrupts are not in the log (they follow from it): replay a short stretch to list them.
        if (!_session.IsModified)
        {
            ulong near = Math.Min(radius, InterruptRadius);
            var taken = _session.InterruptsBetween(here > near ? here - near : 0, here + near, limit: int.MaxValue);
            var nearest = taken.OrderBy(r => r.Position > here ? r.Position - here : here - r.Position).Take(EventLines / 2).OrderBy(r => r.Position).ToList();
            sb.Append($"{taken.Count} interrupts taken within {near} instructions of here{(nearest.Count < taken.Count ? $", the {nearest.Count} nearest" : "")}\n");
            foreach (var r in nearest)
                sb.Append($"  {r.Position,14}  interrupt vector 0x{r.Vector:x2}, interrupting 0x{r.ReturnLinear:x8}\n");
        }
        return sb.ToString();
    }

    /// <summary>How far either side of here interrupts are listed: about 1 ms of replay each way.</summary>
    private const ulong InterruptRadius = 100_000;

    private static string Describe(LogEvent e) => e switch
    {
        TimeSetEvent t => $"{e.Position,14}  time set to {t.Nanoseconds} ns",
        SerialInputEvent s => $"{e.Position,14}  serial input {s.Data.Length} bytes at offset {s.InputOffset}: \"{Printable(s.Data)}\"",
        CheckpointEvent c => $"{e.Position,14}  checkpoint, state hash {c.StateHash:X16}",
        OutputMarkerEvent o => $"{e.Position,14}  output marker, {o.OutputEnd} bytes produced",
        GuestExitEvent x => $"{e.Position,14}  guest exit (reason {x.Reason}, status {x.Status})",
        PositionBeaconEvent => $"{e.Position,14}  position beacon",
        DiskReadEvent d => $"{e.Position,14}  disk read: request {d.RequestId}, status {d.Status}, {d.Data.Length} bytes",
        DiskCompletionEvent d => $"{e.Position,14}  disk completion: request {d.RequestId}, status {d.Status}",
        NetReceiveEvent n => $"{e.Position,14}  network frame received, {n.Frame.Length} bytes",
        _ => $"{e.Position,14}  {e.Kind}",
    };

    private static string Printable(byte[] data)
    {
        var sb = new StringBuilder();
        foreach (byte b in data.AsSpan(0, Math.Min(data.Length, 40)))
            sb.Append(b is >= 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\' ? (char)b : $"\\x{b:x2}");
        if (data.Length > 40) sb.Append("...");
        return sb.ToString();
    }
}
