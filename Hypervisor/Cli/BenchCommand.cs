using System.CommandLine;
using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Solo;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft bench cpu</c>: the bundled integer benchmark, reporting MIPS.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var iterations = new Option<int>("--iterations") { Description = "cpubench iterations (default: the guest's own, about 0.5 billion instructions)", DefaultValueFactory = _ => 0 };
        var runs = new Option<int>("--runs") { Description = "repeat the run and report each", DefaultValueFactory = _ => 1 };
        var cpu = new Command("cpu", "Run the bundled cpubench guest in virtual time and print MIPS") { iterations, runs };
        cpu.SetAction(parse => CliErrors.Guard("bench cpu", () =>
        {
            int n = parse.GetValue(iterations);
            int count = parse.GetValue(runs);
            if (n < 0) throw new UsageException("--iterations: must be positive");
            if (count < 1) throw new UsageException("--runs: must be at least 1");
            int exit = 0;
            for (int i = 0; i < count; i++)
            {
                var (outcome, output) = RunCpubench(n);
                Console.Write(output);
                Console.WriteLine($"bench cpu: {outcome.Instructions} instructions in {outcome.Elapsed.TotalSeconds:F3} s = {outcome.Mips:F1} MIPS (guest status {outcome.GuestStatus?.ToString() ?? "none"})");
                if (outcome.GuestStatus != 1) exit = 1;
            }
            return exit;
        }));
        return new Command("bench", "Benchmarks that print figures") { cpu };
    }

    /// <summary>Runs cpubench to its exit in virtual time; returns the outcome and what it printed.</summary>
    public static (RunOutcome Outcome, string SerialOutput) RunCpubench(int iterations, ulong maxInstructions = 0)
    {
        var machine = new PcMachine(new MachineConfiguration());
        var output = new StringBuilder();
        machine.LoadMultiboot(BundledImages.Get("cpubench"), "cpubench",
            new MultibootOptions { CommandLine = iterations > 0 ? $"iterations={iterations}" : "" });
        machine.SerialOutput = b => output.Append((char)b);
        var outcome = new SoloRunner(machine, ClockMode.Virtual, null).Run(maxInstructions);
        return (outcome, output.ToString());
    }
}
