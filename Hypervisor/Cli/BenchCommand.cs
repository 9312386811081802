using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft bench cpu</c>: the bundled integer benchmark, reporting MIPS.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var iterations = new Option<int>("--iterations") { Description = "cpubench iterations (default: the guest's own, about 0.5 billion instructions)", DefaultValueFactory = _ => 0 };
        var runs = new Option<int>("--runs") { Description = "repeat the run and report each", DefaultValueFactory = _ => 1 };
        var coreOption = CoreOption.Create("both", "which core to measure: interp, jit or both (side by side)");
        var vsQemu = new Option<bool>("--vs-qemu") { Description = "instead: cpubench recorded as vmft record does, under each core, and by QEMU's -icount rr=record on the same image: wall times and ratios" };
        var cpu = new Command("cpu", "Run the bundled cpubench guest in virtual time and print MIPS") { iterations, runs, coreOption, vsQemu };
        cpu.SetAction(parse => CliErrors.Guard("bench cpu", () =>
        {
            int n = parse.GetValue(iterations);
            int count = parse.GetValue(runs);
            if (n < 0) throw new UsageException("--iterations: must be positive");
            if (count < 1) throw new UsageException("--runs: must be at least 1");
            string which = parse.GetValue(coreOption)!;
            Guest.Processor.CpuCore[] cores = which == "both"
                ? [Guest.Processor.CpuCore.Interpreter, Guest.Processor.CpuCore.Translator]
                : [CoreOption.Parse(which)];
            if (parse.GetValue(vsQemu)) return VsQemu(n, count, cores);
            int exit = 0;
            for (int i = 0; i < count; i++)
            {
                // Both cores on the same image, one after the other, so the figures share the machine's load.
                foreach (var core in cores)
                {
                    var profiler = new Bench.CompileTimer();
                    var (outcome, output, stats) = Bench.CpuBenchmark.RunCpubench(n, core, 0, profiler);
                    Console.Write(output);
                    string name = core == Guest.Processor.CpuCore.Translator ? "jit" : "interp";
                    Console.WriteLine($"bench cpu [{name}]: {outcome.Instructions} instructions in {outcome.Elapsed.TotalSeconds:F3} s = {outcome.Mips:F1} MIPS (guest status {outcome.GuestStatus?.ToString() ?? "none"})");
                    if (core == Guest.Processor.CpuCore.Translator)
                        Console.WriteLine($"bench cpu [jit]: {CoreOption.Describe(stats, outcome.Instructions, profiler.Elapsed)}");
                    if (outcome.GuestStatus != 1) exit = 1;
                }
            }
            return exit;
        }));
        var loopCount = new Option<uint>("--iterations") { Description = "loop iterations (4 instructions each)", DefaultValueFactory = _ => 50_000_000u };
        var loop = new Command("loop", "Run a tight integer loop (add, xor, dec, jnz) in flat protected mode and print MIPS") { loopCount };
        loop.SetAction(parse => CliErrors.Guard("bench loop", () =>
        {
            uint n = parse.GetValue(loopCount);
            if (n == 0) throw new UsageException("--iterations: must be at least 1");
            var outcome = Bench.CpuBenchmark.RunLoop(n);
            Console.WriteLine($"bench loop: {outcome.Instructions} instructions in {outcome.Elapsed.TotalSeconds:F3} s = {outcome.Mips:F1} MIPS");
            return outcome.GuestStatus == 1 ? 0 : 1;
        }));
        var ftIterations = new Option<int>("--iterations") { Description = "cpubench iterations (default: the guest's own)", DefaultValueFactory = _ => 0 };
        var ft = new Command("ft", "cpubench under fault tolerance (primary and backup on two threads) beside a solo run: throughput ratio, log rate, backup lag, output hold") { ftIterations };
        ft.SetAction(parse => CliErrors.Guard("bench ft", () =>
        {
            int n = parse.GetValue(ftIterations);
            if (n < 0) throw new UsageException("--iterations: must be positive");
            var f = Bench.FtBenchmark.Run(n);
            Console.Write(f.Output);
            Console.WriteLine($"bench ft: {f.Instructions} instructions; solo {f.SoloSeconds:F2} s, under FT {f.FtSeconds:F2} s: FT/solo throughput {f.ThroughputRatio:F3}");
            Console.WriteLine($"bench ft: log {f.LogBytes} bytes over {f.GuestSeconds:F2} guest s = {f.LogMbitPerGuestSecond:F4} Mbit/s; max backup lag {f.MaxLagInstructions} instructions; output hold p50 {f.HoldP50Ms:F2} ms, p99 {f.HoldP99Ms:F2} ms, p99.9 {f.HoldP999Ms:F2} ms");
            return f.Output.Contains("cpubench OK") ? 0 : 1;
        }));
        return new Command("bench", "Benchmarks that print figures") { cpu, loop, ft, CreateDebug(), BenchFaultsCommand.Create(), BenchLinuxCommand.Create(), BenchDiskCommand.Create() };
    }

    /// <summary><c>vmft bench cpu --vs-qemu</c>: one recording per core and one by QEMU, per run, in this order.</summary>
    private static int VsQemu(int iterations, int runs, Guest.Processor.CpuCore[] cores)
    {
        int exit = 0;
        for (int i = 0; i < runs; i++)
        {
            var vmft = new List<Bench.QemuRecordComparison.VmftRun>();
            foreach (var core in cores)
            {
                var run = Bench.QemuRecordComparison.RecordVmft(iterations, core);
                string name = core == Guest.Processor.CpuCore.Translator ? "jit" : "interp";
                bool ok = run.Output.Contains("cpubench OK", StringComparison.Ordinal) || run.Output.Contains("cpubench UNCHECKED", StringComparison.Ordinal);
                if (!ok) exit = 1;
                Console.WriteLine($"bench cpu --vs-qemu: vmft record [{name,-6}] {run.Seconds,7:F2} s  {run.Instructions / run.Seconds / 1e6,6:F1} MIPS  {run.RecordingBytes} bytes{(ok ? "" : "  (cpubench did not pass)")}");
                if (core == Guest.Processor.CpuCore.Translator)
                    Console.WriteLine($"bench cpu --vs-qemu: [jit] {CoreOption.Describe(run.Translation, run.Instructions)}");
                vmft.Add(run);
            }
            var (qemu, qemuBytes, problem) = Bench.QemuRecordComparison.RecordQemu(iterations, TimeSpan.FromSeconds(120));
            if (qemu is not { } q)
            {
                Console.WriteLine($"bench cpu --vs-qemu: QEMU: {problem}");
                continue;
            }
            Console.WriteLine($"bench cpu --vs-qemu: qemu -icount shift=auto,rr=record {q,7:F2} s  {qemuBytes} bytes");
            foreach (var run in vmft)
            {
                string name = run.Core == Guest.Processor.CpuCore.Translator ? "jit" : "interp";
                Console.WriteLine($"bench cpu --vs-qemu: [{name}] VmFt/QEMU recording time {run.Seconds / q:F2}");
            }
        }
        return exit;
    }

    /// <summary><c>vmft bench debug</c>: recording overhead, replay speed, reverse-stepi latency and snapshot memory, side by side.</summary>
    private static Command CreateDebug()
    {
        var instructions = new Option<ulong>("--instructions") { Description = "length of the cpubench run", DefaultValueFactory = _ => 1_000_000_000UL };
        var samples = new Option<int>("--samples") { Description = "reverse-stepi measurements at random positions", DefaultValueFactory = _ => 20 };
        var interval = new Option<ulong>("--snapshot-interval") { Description = "instructions between snapshots", DefaultValueFactory = _ => new Debugging.SnapshotOptions().Interval };
        var budget = new Option<string>("--snapshot-budget") { Description = "memory for snapshots (e.g. 512M, 2G)", DefaultValueFactory = _ => "1G" };
        var seed = new Option<int>("--seed") { Description = "chooses the positions", DefaultValueFactory = _ => 1 };
        var command = new Command("debug", "Recording overhead, replay speed, reverse-stepi latency and snapshot memory on one cpubench run") { instructions, samples, interval, budget, seed };
        command.SetAction(parse => CliErrors.Guard("bench debug", () =>
        {
            ulong n = parse.GetValue(instructions);
            int count = parse.GetValue(samples);
            if (n < 1_000_000) throw new UsageException("--instructions: at least 1000000");
            if (count < 1) throw new UsageException("--samples: at least 1");
            if (parse.GetValue(interval) == 0) throw new UsageException("--snapshot-interval: at least 1");
            long bytes = (long)Math.Min(SizeParser.Parse(parse.GetValue(budget)!, "--snapshot-budget"), long.MaxValue);
            if (bytes == 0) throw new UsageException("snapshot budget: must be more than 0 bytes");
            var options = new Debugging.SnapshotOptions { Interval = parse.GetValue(interval), MemoryBudgetBytes = bytes };
            using var logging = CliLogging.Create(parse, statusOnStdout: false); // stdout is the report
            var progress = logging.CreateLogger(ShellLog.BenchCategory);
            var f = Bench.DebugBenchmark.Run(n, count, options, parse.GetValue(seed), line => ShellLog.DebugBenchProgress(progress, line));
            double mips(double seconds) => f.Instructions / seconds / 1e6;
            Console.WriteLine($"bench debug: cpubench, {f.Instructions} instructions");
            Console.WriteLine($"  solo      {f.SoloSeconds,7:F2} s  {mips(f.SoloSeconds),6:F1} MIPS");
            Console.WriteLine($"  record    {f.RecordSeconds,7:F2} s  {mips(f.RecordSeconds),6:F1} MIPS  overhead {f.RecordOverhead * 100:F1}% ({f.RecordingBytes} bytes)");
            Console.WriteLine($"  replay    {f.ReplaySeconds,7:F2} s  {mips(f.ReplaySeconds),6:F1} MIPS  replay/solo speed {f.ReplayRatio:F3}");
            Console.WriteLine($"  debugger  open {f.OpenSeconds:F2} s, goto end {f.GotoEndSeconds:F2} s (from the recording's snapshots); from 0 to the end {f.ForwardSeconds:F2} s = {mips(f.ForwardSeconds):F1} MIPS, taking snapshots");
            static string Spread(double[] ms) =>
                $"p50 {Bench.Faults.Percentiles.Of(ms, 0.5):F1} ms, p90 {Bench.Faults.Percentiles.Of(ms, 0.9):F1} ms, max {ms.Max():F1} ms";
            Console.WriteLine($"  reverse-stepi, the first at {f.ReverseStepMs.Length} random positions arrived at going forwards: {Spread(f.ReverseStepMs)}");
            Console.WriteLine($"  reverse-stepi, the {f.FollowingReverseStepMs.Length} that followed (10 in a row at each): {Spread(f.FollowingReverseStepMs)}");
            Console.WriteLine($"  snapshots: {f.Snapshots.Count}, {f.Snapshots.Bytes / 1048576.0:F1} MiB of a {f.Snapshots.BudgetBytes / 1048576.0:F0} MiB budget, every {f.Snapshots.Interval} instructions");
            return 0;
        }));
        return command;
    }
}
