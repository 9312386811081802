using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;

namespace VmFt.Hypervisor.Simulation;

/// <summary>
/// Primary, backup, relay, arbiter, channel and a client in one process, on a step clock and a
/// seeded scheduler: every delay, drop and crash point comes from the seed, so any run (and any
/// failure it finds) replays exactly. The nodes are the real <see cref="PrimaryNode"/> and
/// <see cref="BackupNode"/>; only the transport and time are simulated (<see cref="SimulatedCluster"/>).
/// </summary>
public sealed class FtSimulation(SimulationOptions options)
{
    private PcMachine Boot()
    {
        var machine = new PcMachine(new MachineConfiguration
        {
            RamSize = options.RamSize,
            Disk = options.Disk is { } disk ? new DiskConfiguration((ulong)disk.Length / DiskConfiguration.SectorSize, ReadOnly: false) : null,
        });
        machine.LoadMultiboot(options.Image, options.ImageName, new MultibootOptions { CommandLine = options.CommandLine });
        return machine;
    }

    public SimulationResult Run(FaultPlan plan) => new SimulatedCluster(options, Boot).Run(plan);
}
