using System.CommandLine;
using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.Simulation;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft simulate</c>: explores fault schedules in the deterministic simulator (primary, backup,
/// relay, arbiter and channel in one process) with a bundled guest and a scripted client; see
/// <see cref="ScheduleExplorer"/> for what is drawn and checked.
/// </summary>
public static class SimulateCommand
{
    public static Command Create()
    {
        string names = string.Join(", ", SimulatedFaults.Scenarios.Select(s => s.Name));
        var runs = new Option<int>("--runs") { Description = "fault schedules to explore", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "first seed; run i uses seed + i, so any run can be repeated alone with --runs 1", DefaultValueFactory = _ => 1 };
        string former = string.Join(", ", SimulatedFaults.Scenarios.SelectMany(s => s.OtherNames));
        var scenario = new Option<string>("--scenario") { Description = $"{names} or all (the former names {former} still work)", DefaultValueFactory = _ => "all" };
        var broken = new Option<bool>("--break-output-rule")
        {
            Description = "test only: the primary releases output before the backup acknowledges, to show the checker catching it",
            Hidden = true,
        };
        string workloads = string.Join(", ", SimulatedWorkload.All.Select(w => w.Name));
        var workload = new Option<string>("--workload")
        {
            Description = $"what the cluster runs: {workloads} (journal: the disk guest's journal on a shared disk, checked for lost and never-issued writes)",
            DefaultValueFactory = _ => "kvstore",
        };
        var brokenDisk = new Option<bool>("--break-disk-rule")
        {
            Description = "test only: the primary performs disk writes before the backup has their issue, to show the disk check catching it",
            Hidden = true,
        };
        var command = new Command("simulate", "Explore fault schedules in the deterministic FT simulator and check every run") { runs, seed, scenario, workload, broken, brokenDisk };
        command.SetAction(parse => CliErrors.Guard("simulate", () =>
        {
            int count = parse.GetValue(runs);
            if (count < 1) throw new UsageException("--runs: must be at least 1");
            string chosen = parse.GetValue(scenario)!;
            IReadOnlyList<FaultScenario> scenarios = chosen == "all"
                ? SimulatedFaults.Scenarios
                : FaultCatalogue.TryFind(chosen, SimulatedFaults.Scenarios, out var one)
                    ? [one]
                    : throw new UsageException($"--scenario: '{chosen}' is not a scenario ({names}, all)");
            string wanted = parse.GetValue(workload)!;
            var chosenWorkload = SimulatedWorkload.All.FirstOrDefault(w => w.Name == wanted)
                ?? throw new UsageException($"--workload: '{wanted}' is not a workload ({workloads})");
            if (ScheduleExplorer.RepairProblem(chosenWorkload) is { } noRepair)
            {
                if (scenarios.Count == 1 && scenarios[0].RepairCycles > 0) throw new UsageException($"--scenario {scenarios[0].Name}: {noRepair}");
                if (scenarios.Count > 1) Console.Out.WriteLine($"simulate: {string.Join(", ", scenarios.Where(x => x.RepairCycles > 0).Select(x => x.Name))} left out: {noRepair}");
            }
            int violations = ScheduleExplorer.Explore(count, parse.GetValue(seed), scenarios, Console.Out, parse.GetValue(broken),
                chosenWorkload, parse.GetValue(brokenDisk));
            return violations == 0 ? 0 : 1;
        }));
        return command;
    }
}
