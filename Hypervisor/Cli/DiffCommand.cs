using System.CommandLine;
using System.Text;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Recording;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft diff A B</c>: the first position where two recorded runs differ, and what differs there.
/// <c>vmft diff A --rerun</c>: replays A on a fresh machine with this build and reports where (if
/// anywhere) it stops reproducing the recorded run. Exit codes as diff(1): 0 same, 1 different,
/// 2 bad input; 3 when a recording does not replay at all.
/// </summary>
public static class DiffCommand
{
    public const int SameExit = 0;
    public const int DifferentExit = 1;

    public static Command Create()
    {
        var first = new Argument<string>("a") { Description = "a recording made by vmft record" };
        var second = new Argument<string?>("b") { Description = "the recording to compare it with", Arity = ArgumentArity.ZeroOrOne };
        var rerun = new Option<bool>("--rerun") { Description = "compare A with a fresh replay of its own log on this build (does this build still reproduce it?)" };
        var command = new Command("diff", "Find the first position where two recorded runs differ, and show what differs") { first, second, rerun };
        command.SetAction(parse => CliErrors.Guard("diff", () =>
        {
            string pathA = parse.GetValue(first)!;
            string? pathB = parse.GetValue(second);
            bool again = parse.GetValue(rerun);
            if (pathB is null == !again)
                throw new UsageException(again ? "give either a second recording or --rerun, not both" : "give a second recording to compare with, or --rerun");
            var a = Read(pathA);
            // Ctrl-C stops a long diff at the next slice of replay, with one line and exit 130.
            using var stop = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                stop.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                return Run(pathA, a, pathB, again, stop.Token);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("vmft diff: interrupted");
                return InterruptedExit;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        }));
        return command;
    }

    /// <summary>Exit code when Ctrl-C stopped the diff (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExit = 130;

    private static int Run(string pathA, RecordingContents a, string? pathB, bool again, CancellationToken cancellation)
    {
        if (again)
        {
            var r = RecordingDiff.CompareWithRerun(a, pathA, cancellation);
            PrintRerun(Console.Out, pathA, r);
            return r.Outcome == DiffOutcome.Identical ? SameExit : DifferentExit;
        }
        var b = Read(pathB!);
        var result = RecordingDiff.Compare(a, pathA, b, pathB!, cancellation: cancellation);
        Print(Console.Out, pathA, pathB!, result);
        return result.Outcome switch
        {
            DiffOutcome.Identical => SameExit,
            DiffOutcome.NotReproducible => ReplayCommand.DivergedExit,
            _ => DifferentExit,
        };
    }

    /// <summary>
    /// A truncated recording is refused: its last stretch is missing, so any difference found near
    /// its end would be meaningless.
    /// </summary>
    private static RecordingContents Read(string path) => RecordingFile.Read(path, allowTruncated: false);

    public static void Print(TextWriter o, string pathA, string pathB, RecordingDiffResult r)
    {
        switch (r.Outcome)
        {
            case DiffOutcome.ConfigurationDiffers:
                o.WriteLine($"different machines: {pathA} and {pathB} do not record the same image and configuration");
                foreach (var line in r.ConfigurationDifferences) o.WriteLine($"  {line}");
                return;
            case DiffOutcome.Identical:
                o.WriteLine($"no difference: both runs reach position {r.Position} with state hash {r.HashA:X16}");
                break;
            case DiffOutcome.LengthDiffers:
                o.WriteLine($"same run, different lengths: both reach position {r.Position} with state hash {r.HashA:X16}; {Ends(pathA, pathB, r)}");
                break;
            case DiffOutcome.NotReproducible:
                o.WriteLine($"{(r.FailedRun == "A" ? pathA : pathB)} does not replay on this build at position {r.Position}: {r.Message}");
                break;
            case DiffOutcome.StateDiffers:
                o.WriteLine($"first difference at position {r.Position}: state hash A {r.HashA:X16}, B {r.HashB:X16}");
                if (r.Bracket is { } br) o.WriteLine($"  (the logs alone narrowed it to positions {br.Start + 1}..{br.End}; {Ends(pathA, pathB, r)})");
                else o.WriteLine($"  (the states differ from power-on; {Ends(pathA, pathB, r)})");
                PrintDetail(o, r.Detail!, r.Position);
                break;
        }
        PrintCost(o, r);
    }

    private static void PrintCost(TextWriter o, RecordingDiffResult r) =>
        o.WriteLine($"{r.PositionsExamined} position{(r.PositionsExamined == 1 ? "" : "s")} examined in {r.Elapsed.TotalSeconds:F2} s");

    private static string Ends(string pathA, string pathB, RecordingDiffResult r) =>
        r.EndA == r.EndB ? $"both recordings end at position {r.EndA}" : $"A ({pathA}) ends at position {r.EndA}, B ({pathB}) at {r.EndB}";

    private static void PrintDetail(TextWriter o, StateDifference d, ulong position)
    {
        if (d.Registers.Count > 0)
        {
            o.WriteLine("registers:                  A                 B");
            foreach (var reg in d.Registers) o.WriteLine($"  {reg.Name,-12} {reg.A,16}  {reg.B,16}");
        }
        if (d.CpuHiddenStateDiffers) o.WriteLine("cpu: hidden state differs (debug registers, SYSENTER MSRs, TSC offset, LDTR/TR or interrupt shadow)");
        if (d.MemoryRangeCount > 0)
        {
            o.WriteLine($"memory: {d.MemoryRangeCount} range{(d.MemoryRangeCount == 1 ? "" : "s")} differ{(d.MemoryRangeCount == 1 ? "s" : "")} in {d.DifferingPages} page{(d.DifferingPages == 1 ? "" : "s")}");
            foreach (var m in d.MemoryRanges)
            {
                o.WriteLine($"  {m.Start:X8}..{m.Start + m.Length - 1:X8} ({m.Length} byte{(m.Length == 1 ? "" : "s")})");
                o.WriteLine($"    A: {Hex(m.ExcerptA)}{(m.Length > m.ExcerptA.Length ? " ..." : "")}");
                o.WriteLine($"    B: {Hex(m.ExcerptB)}{(m.Length > m.ExcerptB.Length ? " ..." : "")}");
            }
            if (d.MemoryRangeCount > d.MemoryRanges.Count) o.WriteLine($"  ... and {d.MemoryRangeCount - d.MemoryRanges.Count} more");
        }
        if (d.Devices.Count > 0) o.WriteLine($"devices: {string.Join(", ", d.Devices)}");
        if (d.NothingFound) o.WriteLine("(the hashes differ, but no register, RAM byte or device state does: the state hash itself is not reproducible)");
        if (d.LastInstructionA is not null)
        {
            o.WriteLine($"last instruction (from position {position - 1}):");
            o.WriteLine($"  A: {d.LastInstructionA}");
            o.WriteLine($"  B: {d.LastInstructionB}");
        }
        o.WriteLine("next instruction:");
        o.WriteLine($"  A: {d.NextInstructionA}");
        o.WriteLine($"  B: {d.NextInstructionB}");
        o.WriteLine($"events around position {position} (* = at it):");
        PrintEvents(o, "A", d.EventsA, position);
        PrintEvents(o, "B", d.EventsB, position);
    }

    private static void PrintEvents(TextWriter o, string run, IReadOnlyList<LogEvent> events, ulong position)
    {
        if (events.Count == 0) o.WriteLine($"  {run}: (none)");
        foreach (var e in events) o.WriteLine($"  {run}: {(e.Position == position ? '*' : ' ')} {Describe(e)}");
    }

    public static string Describe(LogEvent e)
    {
        string what = e switch
        {
            TimeSetEvent t => $"time set to {t.Nanoseconds} ns",
            SerialInputEvent s => $"serial input \"{Escape(s.Data)}\" (input offset {s.InputOffset})",
            CheckpointEvent c => $"checkpoint {c.StateHash:X16}",
            OutputMarkerEvent m => $"output up to byte {m.OutputEnd}",
            GuestExitEvent x => $"guest exit ({(MachineExitReason)x.Reason}{(x.Status >= 0 ? $", status {x.Status}" : "")})",
            DiskReadEvent d => $"disk read of request {d.RequestId} (status {d.Status}, {d.Data.Length} bytes)",
            DiskCompletionEvent d => $"disk completion of request {d.RequestId} (status {d.Status})",
            NetReceiveEvent n => $"network frame of {n.Frame.Length} bytes received",
            _ => e.Kind.ToString(),
        };
        return $"#{e.Sequence} at {e.Position}: {what}";
    }

    private static string Escape(byte[] data)
    {
        var s = new StringBuilder();
        foreach (byte b in data.AsSpan(0, Math.Min(data.Length, 48)))
            s.Append(b switch { (byte)'\n' => "\\n", (byte)'\r' => "\\r", (byte)'"' => "\\\"", (byte)'\\' => "\\\\", >= 0x20 and < 0x7F => ((char)b).ToString(), _ => $"\\x{b:X2}" });
        if (data.Length > 48) s.Append("...");
        return s.ToString();
    }

    private static string Hex(byte[] bytes) => string.Join(' ', bytes.Select(b => b.ToString("X2")));

    public static void PrintRerun(TextWriter o, string path, RecordingDiffResult r)
    {
        if (r.Outcome == DiffOutcome.Identical)
        {
            o.WriteLine($"no difference: the recording and this build's replay of it both reach position {r.Position} with state hash {r.HashA:X16}");
        }
        else
        {
            var (start, end) = r.Bracket!.Value;
            o.WriteLine($"this build no longer reproduces {path}: {r.Message}");
            o.WriteLine($"  the replay agreed with the recording at position {start} (its last matching checkpoint) and differs by position {end};");
            o.WriteLine("  the recording holds only state hashes, so the first differing instruction lies in between (record with a smaller --checkpoint-interval to narrow it)");
            if (r.HashA != 0) o.WriteLine($"  state hash at {end}: recorded {r.HashA:X16}, replayed {r.HashB:X16}");
            o.WriteLine($"replay's next instruction: {r.Detail!.NextInstructionB}");
            o.WriteLine($"inputs between positions {start} and {end}:");
            if (r.Detail.EventsA.Count == 0) o.WriteLine("  (none)");
            foreach (var e in r.Detail.EventsA.Take(20)) o.WriteLine($"  {Describe(e)}");
            if (r.Detail.EventsA.Count > 20) o.WriteLine($"  ... and {r.Detail.EventsA.Count - 20} more");
        }
        PrintCost(o, r);
    }
}
