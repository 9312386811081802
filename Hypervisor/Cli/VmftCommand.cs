using System.CommandLine;

namespace VmFt.Hypervisor.Cli;

/// <summary>The <c>vmft</c> command line: one subcommand per role or tool.</summary>
public static class VmftCommand
{
    /// <summary>Exit code for input the user got wrong (a bad flag, a missing or unreadable file).</summary>
    public const int BadInput = 2;

    public static int Run(string[] args)
    {
        var root = new RootCommand("VmFt: fault-tolerant x86 virtual machines by deterministic replay");
        root.Options.Add(CliLogging.LevelOption);
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(RecordCommand.Create());
        root.Subcommands.Add(ReplayCommand.Create());
        root.Subcommands.Add(DebugCommand.Create());
        root.Subcommands.Add(DiffCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(SimulateCommand.Create());
        root.Subcommands.Add(ConformanceCommand.Create());
        root.Subcommands.Add(NodeCommands.CreatePrimary());
        root.Subcommands.Add(NodeCommands.CreateBackup());
        root.Subcommands.Add(RelayCommand.Create());
        root.Subcommands.Add(FtCommand.Create());
        root.Subcommands.Add(ConsoleCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        return root.Parse(args).Invoke();
    }
}
