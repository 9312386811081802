using System.Diagnostics;
using System.Text;
using VmFt.Guest.Devices;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// Finds the first position where two recorded runs differ, and what differs there.
/// <para>
/// The logs narrow it down without executing anything: both runs start from the same state, so they
/// cannot differ before the first input (clock sample, serial bytes) that differs between the logs,
/// and the checkpoints both logs carry at the same position say where their states still agreed
/// and where they no longer did. The hashes of the two replayed machines are then compared at the
/// first suspect position (and onwards, should the logs' claims be wrong), and the stretch between
/// the last agreeing and the first differing position is bisected by moving both sessions.
/// </para>
/// </summary>
public static class RecordingDiff
{
    /// <summary>Differing RAM ranges described in full; the rest are only counted.</summary>
    public const int MaxMemoryRanges = 8;
    /// <summary>Bytes shown from the start of each differing range.</summary>
    public const int ExcerptLength = 16;
    private const int PageSize = 4096;
    private const int EventsBefore = 4;
    private const int EventsAfter = 2;

    /// <summary>The header fields that make two recorded machines different, one line each (empty when they are the same machine).</summary>
    public static IReadOnlyList<string> CompareConfigurations(RecordingHeader a, RecordingHeader b)
    {
        var d = new List<string>();
        if (!a.ImageSha256.AsSpan().SequenceEqual(b.ImageSha256))
            d.Add($"image: '{a.ImageName}' (SHA-256 {Convert.ToHexString(a.ImageSha256, 0, 8)}...) vs '{b.ImageName}' (SHA-256 {Convert.ToHexString(b.ImageSha256, 0, 8)}...)");
        if (a.InitrdName is null != b.InitrdName is null || (a.InitrdSha256 is { } ia && !ia.AsSpan().SequenceEqual(b.InitrdSha256)))
            d.Add($"initrd: {Initrd(a)} vs {Initrd(b)}");
        if (a.KernelCommandLine != b.KernelCommandLine)
            d.Add($"kernel command line: \"{a.KernelCommandLine}\" vs \"{b.KernelCommandLine}\"");
        if (a.RamSize != b.RamSize) d.Add($"RAM size: {a.RamSize} vs {b.RamSize} bytes");
        if (a.NanosecondsPerInstruction != b.NanosecondsPerInstruction)
            d.Add($"nanoseconds per instruction: {a.NanosecondsPerInstruction} vs {b.NanosecondsPerInstruction}");
        if (a.BootTimeUnixNanoseconds != b.BootTimeUnixNanoseconds)
            d.Add($"boot time: {a.BootTimeUnixNanoseconds} vs {b.BootTimeUnixNanoseconds} ns since the Unix epoch");
        if (a.TscHz != b.TscHz) d.Add($"TSC frequency: {a.TscHz} vs {b.TscHz} Hz");
        return d;
    }

    private static string Initrd(RecordingHeader h) =>
        h.InitrdName is null ? "none" : $"'{h.InitrdName}' (SHA-256 {Convert.ToHexString(h.InitrdSha256!, 0, 8)}...)";

    /// <summary>Compares two recordings. A recording that does not replay on this build yields <see cref="DiffOutcome.NotReproducible"/>.</summary>
    public static RecordingDiffResult Compare(RecordingContents a, string pathA, RecordingContents b, string pathB,
        SnapshotOptions? snapshots = null, CancellationToken cancellation = default) =>
        Compare(a, pathA, b, pathB, snapshots, probeInputFirst: true, cancellation);

    /// <param name="probeInputFirst">Check the position just before a differing input first (off: always bisect, for tests of the bisection).</param>
    internal static RecordingDiffResult Compare(RecordingContents a, string pathA, RecordingContents b, string pathB,
        SnapshotOptions? snapshots, bool probeInputFirst, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var configuration = CompareConfigurations(a.Header, b.Header);
        if (configuration.Count > 0)
            return new RecordingDiffResult { Outcome = DiffOutcome.ConfigurationDiffers, ConfigurationDifferences = configuration, Elapsed = clock.Elapsed };

        var pair = new SessionPair(new ReplaySession(a, pathA, snapshots), new ReplaySession(b, pathB, snapshots), cancellation);
        try
        {
            return Search(a.Events, b.Events, pair, probeInputFirst) with { PositionsExamined = pair.Examined, Elapsed = clock.Elapsed };
        }
        catch (ReplayFailedException e)
        {
            return new RecordingDiffResult
            {
                Outcome = DiffOutcome.NotReproducible, Position = e.Position, FailedRun = e.Run, Message = e.Message,
                EndA = pair.A.EndPosition, EndB = pair.B.EndPosition, PositionsExamined = pair.Examined, Elapsed = clock.Elapsed,
            };
        }
    }

    /// <summary>
    /// Replays a recording on a freshly built machine with this build and checks it against the
    /// hashes the recording carries: does today's emulator still reproduce the recorded run? A
    /// recording holds only hashes of the recorded states, so the divergence is narrowed to the
    /// stretch since the last checkpoint that still matched, not to one instruction.
    /// </summary>
    public static RecordingDiffResult CompareWithRerun(RecordingContents a, string pathA, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var machine = RecordedMachine.Build(a.Header, pathA);
        var replayer = new Replayer(machine);
        ulong lastGood = 0;
        int examined = 0;
        replayer.CheckpointVerified = c => { lastGood = c.Position; examined++; };
        try
        {
            foreach (var e in a.Events)
            {
                cancellation.ThrowIfCancellationRequested();
                replayer.Feed(e);
            }
        }
        catch (DivergenceException e)
        {
            var recorded = e.Sequence >= 1 && e.Sequence <= (ulong)a.Events.Count ? a.Events[(int)e.Sequence - 1] : null;
            var inBracket = new List<LogEvent>();
            foreach (var x in a.Events)
                if (x.Position >= lastGood && x.Position <= e.Position && x is TimeSetEvent or SerialInputEvent or DiskReadEvent or DiskCompletionEvent or NetReceiveEvent or GuestExitEvent) inBracket.Add(x);
            return new RecordingDiffResult
            {
                Outcome = DiffOutcome.StateDiffers,
                Position = e.Position,
                HashA = recorded is CheckpointEvent c ? c.StateHash : 0,
                HashB = machine.StateHash(),
                EndA = a.Events.Count > 0 ? a.Events[^1].Position : 0,
                EndB = machine.Cpu.Position,
                Bracket = (lastGood, e.Position),
                Message = e.Message,
                Detail = new StateDifference { EventsA = inBracket, NextInstructionB = Disassemble(machine.Cpu) },
                PositionsExamined = examined + 1,
                Elapsed = clock.Elapsed,
            };
        }
        var r = replayer.Result;
        return new RecordingDiffResult
        {
            Outcome = DiffOutcome.Identical, Position = r.Position, HashA = r.StateHash, HashB = r.StateHash,
            EndA = r.Position, EndB = r.Position, PositionsExamined = examined, Elapsed = clock.Elapsed,
        };
    }

    private static RecordingDiffResult Search(IReadOnlyList<LogEvent> eventsA, IReadOnlyList<LogEvent> eventsB, SessionPair pair, bool probeInputFirst)
    {
        ulong endA = pair.A.EndPosition, endB = pair.B.EndPosition, common = Math.Min(endA, endB);
        ulong? input = FirstInputDifference(eventsA, eventsB);
        if (input > common) input = null;
        var (claimed, agreeing) = CompareCheckpoints(eventsA, eventsB, common);

        // Suspects in order: the first differing input or claimed checkpoint, then every later
        // checkpoint, then the common end (in case the logs' claims do not hold on this build).
        var suspects = new SortedSet<ulong> { common };
        foreach (var e in eventsA) if (e is CheckpointEvent && e.Position <= common) suspects.Add(e.Position);
        foreach (var e in eventsB) if (e is CheckpointEvent && e.Position <= common) suspects.Add(e.Position);
        if (input is { } i) suspects.Add(i);
        if (claimed is { } c) suspects.Add(c);
        ulong first = Math.Min(input ?? common, claimed ?? common);

        ulong? hi = null;
        ulong lastEqual = 0;
        bool equalSeen = false;
        ulong hashA = 0, hashB = 0;
        foreach (ulong p in suspects.GetViewBetween(first, common))
        {
            if (pair.Differs(p, out hashA, out hashB)) { hi = p; break; }
            lastEqual = p;
            equalSeen = true;
        }
        if (hi is null)
        {
            return new RecordingDiffResult
            {
                Outcome = endA == endB ? DiffOutcome.Identical : DiffOutcome.LengthDiffers,
                Position = common, HashA = hashA, HashB = hashB, EndA = endA, EndB = endB,
            };
        }
        ulong high = hi.Value;

        // The latest position before it where the states are known equal: one just checked, or a
        // checkpoint whose hash both logs agree on (checked now), or failing all, position 0.
        ulong? lo = equalSeen ? lastEqual : null;
        if (lo is null)
        {
            for (int k = agreeing.Count - 1; k >= 0 && lo is null; k--)
                if (agreeing[k] < high && !pair.Differs(agreeing[k], out _, out _)) lo = agreeing[k];
            if (lo is null && high > 0 && (agreeing.Count == 0 || agreeing[0] != 0) && !pair.Differs(0, out _, out _)) lo = 0;
        }
        (ulong, ulong)? bracket = lo is { } l ? (l, high) : null;
        if (lo is { } low)
        {
            // A differing input usually takes effect right where it is applied: try that first.
            if (probeInputFirst && input == high && high - 1 > low && !pair.Differs(high - 1, out _, out _)) low = high - 1;
            if (high - low > 1) pair.TakeSnapshots(low); // every backward step of the bisection restarts from here
            while (high - low > 1)
            {
                ulong mid = low + (high - low) / 2;
                if (pair.Differs(mid, out _, out _)) high = mid;
                else low = mid;
            }
        }
        else
        {
            high = 0; // the states differ at position 0 already: events at 0 (a clock sample at power-on) differ
        }
        return new RecordingDiffResult
        {
            Outcome = DiffOutcome.StateDiffers, Position = high, EndA = endA, EndB = endB, Bracket = bracket,
            Detail = Describe(pair, high, eventsA, eventsB, out hashA, out hashB), HashA = hashA, HashB = hashB,
        };
    }

    /// <summary>
    /// The position of the first state-changing input (clock sample or serial bytes) in which the logs
    /// differ, or null if they have the same inputs. Before it, both runs went through the same states.
    /// </summary>
    public static ulong? FirstInputDifference(IReadOnlyList<LogEvent> a, IReadOnlyList<LogEvent> b)
    {
        int i = 0, j = 0;
        while (true)
        {
            while (i < a.Count && !IsInput(a[i])) i++;
            while (j < b.Count && !IsInput(b[j])) j++;
            if (i == a.Count && j == b.Count) return null;
            if (i == a.Count) return b[j].Position;
            if (j == b.Count) return a[i].Position;
            if (!SameInput(a[i], b[j])) return Math.Min(a[i].Position, b[j].Position);
            i++;
            j++;
        }
    }

    private static bool IsInput(LogEvent e) => e is TimeSetEvent or SerialInputEvent or DiskReadEvent or DiskCompletionEvent or NetReceiveEvent;

    private static bool SameInput(LogEvent x, LogEvent y) => x.Position == y.Position && (x, y) switch
    {
        (TimeSetEvent p, TimeSetEvent q) => p.Nanoseconds == q.Nanoseconds,
        (SerialInputEvent p, SerialInputEvent q) => p.Data.AsSpan().SequenceEqual(q.Data),
        (DiskReadEvent p, DiskReadEvent q) => p.RequestId == q.RequestId && p.Status == q.Status && p.Data.AsSpan().SequenceEqual(q.Data),
        (DiskCompletionEvent p, DiskCompletionEvent q) => p.RequestId == q.RequestId && p.Status == q.Status,
        (NetReceiveEvent p, NetReceiveEvent q) => p.Frame.AsSpan().SequenceEqual(q.Frame),
        _ => false,
    };

    /// <summary>
    /// The checkpoints both logs carry at the same position: the first whose hashes differ, and the
    /// positions (ascending) before it where they agree.
    /// </summary>
    private static (ulong? Differs, List<ulong> Agree) CompareCheckpoints(IReadOnlyList<LogEvent> a, IReadOnlyList<LogEvent> b, ulong common)
    {
        // Several checkpoints at one position: the last one stands for the position, as it was hashed last.
        var hashesB = new Dictionary<ulong, ulong>();
        foreach (var e in b) if (e is CheckpointEvent c && c.Position <= common) hashesB[c.Position] = c.StateHash;
        var agree = new List<ulong>();
        var lastA = new SortedDictionary<ulong, ulong>();
        foreach (var e in a) if (e is CheckpointEvent c && c.Position <= common) lastA[c.Position] = c.StateHash;
        foreach (var (position, hash) in lastA)
        {
            if (!hashesB.TryGetValue(position, out ulong other)) continue;
            if (other != hash) return (position, agree);
            agree.Add(position);
        }
        return (null, agree);
    }

    private static StateDifference Describe(SessionPair pair, ulong position, IReadOnlyList<LogEvent> eventsA, IReadOnlyList<LogEvent> eventsB, out ulong hashA, out ulong hashB)
    {
        string? lastA = null, lastB = null;
        if (position > 0)
        {
            pair.Move(position - 1);
            lastA = Disassemble(pair.A.Cpu);
            lastB = Disassemble(pair.B.Cpu);
        }
        pair.Move(position);
        PcMachine a = pair.A.Machine, b = pair.B.Machine;
        hashA = a.StateHash();
        hashB = b.StateHash();

        var registers = CompareRegisters(a.Cpu, b.Cpu);
        var (ranges, rangeCount, pages) = CompareRam(a.Memory.Ram, b.Memory.Ram);
        return new StateDifference
        {
            Registers = registers,
            CpuHiddenStateDiffers = registers.Count == 0 && a.Cpu.StateHash() != b.Cpu.StateHash(),
            MemoryRanges = ranges,
            MemoryRangeCount = rangeCount,
            DifferingPages = pages,
            Devices = CompareDevices(a, b),
            LastInstructionA = lastA,
            LastInstructionB = lastB,
            NextInstructionA = Disassemble(a.Cpu),
            NextInstructionB = Disassemble(b.Cpu),
            EventsA = EventsAround(eventsA, position),
            EventsB = EventsAround(eventsB, position),
        };
    }

    private static List<RegisterDifference> CompareRegisters(Cpu a, Cpu b)
    {
        var ra = Registers(a);
        var rb = Registers(b);
        var d = new List<RegisterDifference>();
        for (int i = 0; i < ra.Count; i++)
            if (ra[i].Value != rb[i].Value)
                d.Add(new RegisterDifference(ra[i].Name, Format(ra[i].Value, ra[i].Digits), Format(rb[i].Value, rb[i].Digits)));
        return d;

        static string Format(ulong value, int digits) => digits == 0 ? value.ToString() : value.ToString("X" + digits);
    }

    /// <summary>The CPU state a user can name, in a fixed order; digits 0 = decimal.</summary>
    private static List<(string Name, ulong Value, int Digits)> Registers(Cpu c)
    {
        var r = new List<(string, ulong, int)>
        {
            ("EAX", c.Eax, 8), ("ECX", c.Ecx, 8), ("EDX", c.Edx, 8), ("EBX", c.Ebx, 8),
            ("ESP", c.Esp, 8), ("EBP", c.Ebp, 8), ("ESI", c.Esi, 8), ("EDI", c.Edi, 8),
            ("EIP", c.Eip, 8), ("EFLAGS", c.Eflags, 8),
        };
        foreach (SegmentRegister sr in Enum.GetValues<SegmentRegister>())
        {
            var s = c.GetSegment(sr);
            r.Add((sr.ToString(), s.Selector, 4));
            r.Add(($"{sr}.base", s.Base, 8));
            r.Add(($"{sr}.limit", s.Limit, 8));
            r.Add(($"{sr}.access", s.Access, 2));
        }
        r.Add(("GDTR.base", c.Gdtr.Base, 8));
        r.Add(("GDTR.limit", c.Gdtr.Limit, 4));
        r.Add(("IDTR.base", c.Idtr.Base, 8));
        r.Add(("IDTR.limit", c.Idtr.Limit, 4));
        r.Add(("CR0", c.Cr0, 8));
        r.Add(("CR2", c.Cr2, 8));
        r.Add(("CR3", c.Cr3, 8));
        r.Add(("CR4", c.Cr4, 8));
        r.Add(("CPL", (ulong)c.Cpl, 0));
        r.Add(("halted", c.Halted ? 1UL : 0, 0));
        r.Add(("INTR line", c.InterruptLine ? 1UL : 0, 0));
        r.Add(("A20", c.A20Enabled ? 1UL : 0, 0));
        r.Add(("position", c.Position, 0));
        return r;
    }

    /// <summary>Compares RAM a page at a time; adjacent differing pages make one range, trimmed to the first and last differing byte.</summary>
    private static (List<MemoryRangeDifference> Ranges, int Count, int Pages) CompareRam(byte[] a, byte[] b)
    {
        var ranges = new List<MemoryRangeDifference>();
        int count = 0, pages = 0;
        int length = Math.Min(a.Length, b.Length);
        long start = -1, end = -1; // the open range: first and one past the last differing byte
        for (int page = 0; page < length; page += PageSize)
        {
            int size = Math.Min(PageSize, length - page);
            var pa = a.AsSpan(page, size);
            var pb = b.AsSpan(page, size);
            if (pa.SequenceEqual(pb))
            {
                if (start >= 0) { Close(); start = -1; }
                continue;
            }
            pages++;
            int firstInPage = pa.CommonPrefixLength(pb);
            int lastInPage = size - 1;
            while (pa[lastInPage] == pb[lastInPage]) lastInPage--;
            // A range continues into this page only if the previous page differed up to its end and this one from its start.
            if (start >= 0 && (end != page || firstInPage != 0)) { Close(); start = -1; }
            if (start < 0) start = page + firstInPage;
            end = page + lastInPage + 1;
            if (lastInPage != size - 1) { Close(); start = -1; }
        }
        if (start >= 0) Close();
        return (ranges, count, pages);

        void Close()
        {
            count++;
            if (ranges.Count >= MaxMemoryRanges) return;
            int n = (int)Math.Min(ExcerptLength, end - start);
            ranges.Add(new MemoryRangeDifference((uint)start, (uint)(end - start), a.AsSpan((int)start, n).ToArray(), b.AsSpan((int)start, n).ToArray()));
        }
    }

    private static List<string> CompareDevices(PcMachine a, PcMachine b)
    {
        var d = new List<string>();
        if (SequenceEqual(Save(a.SaveDeviceState), Save(b.SaveDeviceState))) return d;
        if (a.Now != b.Now) d.Add($"clock (guest time {a.Now} vs {b.Now} ns)");
        (string Name, IStatefulDevice A, IStatefulDevice B)[] named =
        [
            ("PIC", a.Pic, b.Pic), ("PIT", a.Pit, b.Pit), ("COM1", a.Com1, b.Com1), ("COM2", a.Com2, b.Com2), ("RTC", a.Rtc, b.Rtc),
        ];
        foreach (var (name, da, db) in named)
            if (!SequenceEqual(Save(da.SaveState), Save(db.SaveState))) d.Add(name);
        if (d.Count == 0) d.Add("other devices (keyboard controller, port 92h, debug and PCI ports)");
        return d;

        static bool SequenceEqual(byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y);
    }

    private static byte[] Save(Action<BinaryWriter> save)
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true)) save(w);
        return stream.ToArray();
    }

    /// <summary>The last few events at or before the position and the first few after it; beacons say nothing and are left out.</summary>
    private static List<LogEvent> EventsAround(IReadOnlyList<LogEvent> events, ulong position)
    {
        int lo = 0, hi = events.Count; // first index with Position > position
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (events[mid].Position <= position) lo = mid + 1;
            else hi = mid;
        }
        var before = new List<LogEvent>();
        for (int k = lo - 1; k >= 0 && before.Count < EventsBefore; k--)
            if (events[k] is not PositionBeaconEvent) before.Add(events[k]);
        before.Reverse();
        for (int k = lo, added = 0; k < events.Count && added < EventsAfter; k++)
            if (events[k] is not PositionBeaconEvent) { before.Add(events[k]); added++; }
        return before;
    }

    /// <summary>The instruction at CS:EIP, as "CS:EIP  bytes  mnemonic operands" (<see cref="GuestDisassembler.DescribeCurrent"/>).</summary>
    public static string Disassemble(Cpu cpu) => new GuestDisassembler().DescribeCurrent(cpu);

    /// <summary>Both sessions, moved together (on two threads: they share nothing).</summary>
    private sealed class SessionPair(ReplaySession a, ReplaySession b, CancellationToken cancellation)
    {
        public ReplaySession A { get; } = a;
        public ReplaySession B { get; } = b;
        public int Examined { get; private set; }

        public void Move(ulong position) => Both(s => MoveOne(s, position));

        public bool Differs(ulong position, out ulong hashA, out ulong hashB)
        {
            ulong ha = 0, hb = 0;
            Both(s =>
            {
                MoveOne(s, position);
                if (s == A) ha = s.Machine.StateHash();
                else hb = s.Machine.StateHash();
            });
            Examined++;
            hashA = ha;
            hashB = hb;
            return ha != hb;
        }

        public void TakeSnapshots(ulong position)
        {
            Move(position);
            A.TakeSnapshot();
            B.TakeSnapshot();
        }

        private void Both(Action<ReplaySession> action)
        {
            var other = Task.Run(() => action(B), cancellation);
            try
            {
                action(A);
            }
            finally
            {
                // Never leave B moving while the caller goes on (or unwinds).
                ((IAsyncResult)other).AsyncWaitHandle.WaitOne();
            }
            other.GetAwaiter().GetResult();
        }

        private void MoveOne(ReplaySession s, ulong position)
        {
            string run = s == A ? "A" : "B";
            StopInfo stop;
            try
            {
                stop = s.Goto(position, cancellation);
            }
            catch (DivergenceException e)
            {
                throw new ReplayFailedException(run, e.Message, e.Position);
            }
            if (stop.Reason == StopReason.Interrupted) throw new OperationCanceledException(cancellation);
            if (s.Position != position)
                throw new ReplayFailedException(run, $"the replay stopped at position {s.Position} ({stop}), short of {position}", s.Position);
        }
    }

    private sealed class ReplayFailedException(string run, string message, ulong position) : Exception(message)
    {
        public string Run { get; } = run;
        public ulong Position { get; } = position;
    }
}
